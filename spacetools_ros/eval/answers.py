"""Parsing model answers (and gold answers) into values the metrics compare.

Every parser takes free text, never evaluates it (regular expressions only, no ``eval`` /
``ast.literal_eval``), and returns None when the text holds no usable answer: a malformed answer
scores 0, it never raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

Point = tuple[float, float]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# (x, y) or [x, y]: the protocol writes tuples, benchmarks' gold answers use both
_PAIR = re.compile(rf"[\(\[]\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\)\]]")
_INTEGER = re.compile(r"(?<![\w.])([-+]?\d+(?:\.\d+)?)(?!\w)")
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}
_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "none": 0, "no": 0, "a": 1, "an": 1,
          "single": 1, "dozen": 12}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
GRASP_LABELS = ("grasp center", "left finger base", "right finger base", "left finger tip", "right finger tip")
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)


def answer_text(text: str | None) -> str | None:
    """The content of the last <answer>...</answer> in text, else text itself (stripped); None for no text."""
    if text is None:
        return None
    text = str(text)
    found = _ANSWER_TAG.findall(text)
    return (found[-1] if found else text).strip()


def normalise(text: str) -> str:
    """Lower case, punctuation replaced by spaces, whitespace collapsed ("The (A) Cup." -> "the a cup")."""
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).lower()).split())


def parse_yes_no(text: str | None) -> bool | None:
    """True for an answer starting with yes (or true / correct), False for no (false / incorrect), else None.

    Only the first word counts, as the RoboSpatial-Home evaluator does: "Yes, it is left of the cup" is yes,
    "I think no" is not an answer.
    """
    words = normalise(answer_text(text) or "").split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


def _words_to_int(words: list[str]) -> int | None:
    """The number written by a run of number words ("twenty one", "ten"), else None."""
    total, seen = 0, False
    for word in words:
        if word in _TENS:
            total += _TENS[word]
        elif word in _UNITS:
            total += _UNITS[word]
        else:
            return None
        seen = True
    return total if seen else None


def parse_count(text: str | None) -> int | None:
    """The count an answer gives: its first number written in digits ("10", "There are 10 objects", "10.0"),
    else its first number written in words ("ten", "twenty-one", "a dozen"); None when there is none or the
    number is not a non-negative integer ("2.5", "-1")."""
    text = answer_text(text)
    if not text:
        return None
    match = _INTEGER.search(text)
    if match:
        try:
            value = float(match.group(1))
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0 and value.is_integer():
            return int(value)
        return None
    words = normalise(text.replace("-", " ")).split()
    for start in range(len(words)):
        if words[start] in _TENS or (words[start] in _UNITS and words[start] not in ("a", "an", "no")):
            end = start
            while end < len(words) and (words[end] in _TENS or words[end] in _UNITS):
                end += 1
            value = _words_to_int(words[start:end])
            if value is not None:
                return value
    if words and words[0] in ("no", "none"):
        return 0
    return None


def choice_letter(index: int) -> str:
    """The letter of option index (0 -> "A")."""
    return chr(ord("A") + index)


def parse_choice(text: str | None, choices: Sequence[str] | None = None) -> str | None:
    """The option letter an answer picks ("A".."Z"), or None.

    Accepted: the letter alone with optional brackets or punctuation ("(A)", "A", "a.", "B)"), a phrase with
    one bracketed letter ("The answer is (B)"), "answer/option/choice B", or the text of exactly one of the
    options (compared after normalise(): "The table" matches the option "table").
    """
    text = answer_text(text)
    if not text:
        return None
    n_choices = len(choices) if choices else 26
    valid = {choice_letter(i) for i in range(n_choices)}
    stripped = text.strip()
    alone = re.fullmatch(r"[\(\[]?\s*([A-Za-z])\s*[\)\]]?[.:]?", stripped)
    if alone and alone.group(1).upper() in valid:
        return alone.group(1).upper()
    lead = re.match(r"[\(\[]\s*([A-Za-z])\s*[\)\]]|([A-Z])[\).:](?:\s|$)", stripped)
    if lead and (lead.group(1) or lead.group(2)).upper() in valid:
        return (lead.group(1) or lead.group(2)).upper()
    bracketed = {m.upper() for m in re.findall(r"\(\s*([A-Za-z])\s*\)", text)} & valid
    if len(bracketed) == 1:
        return bracketed.pop()
    named = re.search(r"\b(?i:answer|option|choice)\s*(?i:is)?\s*:?\s*(?:\(\s*([A-Za-z])\s*\)|([A-Z])(?!\w))", text)
    if named and (named.group(1) or named.group(2)).upper() in valid:
        return (named.group(1) or named.group(2)).upper()
    if choices:
        said = normalise(text)
        options = [normalise(c) for c in choices]
        exact = [i for i, o in enumerate(options) if o and o == said]
        if len(exact) == 1:
            return choice_letter(exact[0])
        padded = f" {said} "
        inside = [i for i, o in enumerate(options) if o and f" {o} " in padded]
        if len(inside) == 1:
            return choice_letter(inside[0])
    return None


def parse_points(text: Any) -> list[Point]:
    """Every (x, y) pair written in an answer, in order: "[(0.41, 0.52), (0.1, 0.2)]", "[0.41, 0.52]", "(0.4,0.5)".

    A list of pairs (gold answers stored as JSON) is accepted as is. Values are not range-checked here
    (a point outside [0, 1] simply misses every region); an answer with no pair gives [].
    """
    if isinstance(text, list | tuple):
        points = []
        for value in text:
            if isinstance(value, list | tuple) and len(value) == 2:
                try:
                    x, y = float(value[0]), float(value[1])
                except (TypeError, ValueError):
                    continue
                if math.isfinite(x) and math.isfinite(y):
                    points.append((x, y))
        if points or not text:
            return points
        text = str(text)
    body = answer_text(None if text is None else str(text))
    if not body:
        return []
    points = []
    for xs, ys in _PAIR.findall(body):
        x, y = float(xs), float(ys)
        if math.isfinite(x) and math.isfinite(y):
            points.append((x, y))
    return points


def parse_grasp(text: Any) -> list[Point] | None:
    """The 5 gripper points of a grasp answer in the order center, left base, right base, left tip, right tip.

    Either labelled as BOP-ASK writes them ("Grasp center: [x, y], Left finger base: [x, y], Right finger
    base: [...], Left finger tip: [...], Right finger tip: [...]", labels in any order) or exactly 5 unlabelled
    pairs in that order (what grasp_generator.compute_grasp prints). None otherwise.
    """
    if isinstance(text, dict):
        keyed = {normalise(k): v for k, v in text.items()}
        if all(label in keyed for label in GRASP_LABELS):
            points = parse_points([keyed[label] for label in GRASP_LABELS])
            return points if len(points) == 5 else None
        return None
    body = answer_text(text) if isinstance(text, str) else None
    if body:
        labelled = {}
        for label in GRASP_LABELS:
            pattern = r"\s+".join(label.split())
            match = re.search(rf"{pattern}\s*[:=]?\s*{_PAIR.pattern}", body, re.I)
            if match:
                labelled[label] = (float(match.group(1)), float(match.group(2)))
        if len(labelled) == 5:
            points = [labelled[label] for label in GRASP_LABELS]
            return points if all(math.isfinite(c) for p in points for c in p) else None
    points = parse_points(text)
    return points if len(points) == 5 else None
