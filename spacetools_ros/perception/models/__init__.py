"""Perception backends on transformers models (OWLv2 / Grounding DINO pointing, SAM, Depth Anything).

Models are loaded from local folders only (a checkpoint saved with save_pretrained, or a snapshot of a hub
repository): nothing is downloaded at run time. `load_backend` is the start-up check: it validates the
configuration, loads the weights and returns a ready backend, or raises ModelConfigError with a message
that names the role, the kind and the path.

Importing this package costs nothing: torch and transformers are imported by the backend modules, which
`load_backend` imports on demand.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from spacetools_ros.perception.backends import DepthBackend, PointingBackend, SegmentationBackend

ROLES = ("pointing", "segmentation", "depth")

# role -> kind -> (module, class); modules are imported only when a backend of that kind is loaded
KINDS: dict[str, dict[str, tuple[str, str]]] = {
    "pointing": {
        "owlv2": ("spacetools_ros.perception.models.owlv2", "Owlv2PointingBackend"),
        "grounding_dino": ("spacetools_ros.perception.models.grounding_dino", "GroundingDinoPointingBackend"),
    },
    "segmentation": {
        "sam": ("spacetools_ros.perception.models.sam", "SamSegmentationBackend"),
    },
    "depth": {
        "depth_anything": ("spacetools_ros.perception.models.depth_anything", "DepthAnythingBackend"),
    },
}

# kind -> the config.json model_type values its backend can run (checked before any weights are loaded:
# transformers would otherwise load a checkpoint of another family with randomly initialised weights)
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "owlv2": ("owlv2",),
    "grounding_dino": ("grounding-dino",),
    "sam": ("sam",),
    "depth_anything": ("depth_anything", "dpt"),
}

DTYPES = ("float32", "float16", "bfloat16")


class ModelConfigError(ValueError):
    """A model backend is misconfigured or cannot be loaded; the message names role, kind and path."""


@dataclass
class ModelConfig:
    """Which model a perception role uses and how it runs.

    kind: the model family (see KINDS), e.g. "owlv2", "grounding_dino", "sam", "depth_anything".
    path: a local folder holding config.json, the weights and the processor files.
    device: "cpu" (default), "cuda", "cuda:N" or "mps"; an accelerator that is not available fails at load.
    dtype: "float32" (default), "float16" or "bfloat16".
    threshold: the score a detection needs to be returned (pointing backends).
    depth_scale: depth backends: metric checkpoints predict metres, and their prediction is multiplied by
        depth_scale (1.0 keeps it); relative checkpoints predict inverse depth (disparity) with an unknown
        scale, and depth = depth_scale / disparity, so depth_scale must be calibrated for the camera.
    """

    kind: str
    path: str
    device: str = "cpu"
    dtype: str = "float32"
    threshold: float = 0.1
    depth_scale: float = 1.0


def _error(role: str, config: ModelConfig, problem: str) -> ModelConfigError:
    """A ModelConfigError whose message starts with the role, kind and path."""
    return ModelConfigError(f"{role} model '{config.kind}' at {config.path}: {problem}")


def check_config(role: str, config: ModelConfig) -> Path:
    """Validate config for role without loading weights (reads config.json only); the model folder.

    Raises ModelConfigError for an unknown role or kind, a missing folder, a folder without config.json,
    a model type the kind cannot run, and bad dtype / threshold / depth_scale values.
    """
    if role not in KINDS:
        raise ModelConfigError(f"unknown model role '{role}': valid roles are {', '.join(ROLES)}")
    kinds = KINDS[role]
    if config.kind not in kinds:
        raise _error(role, config, f"unknown kind '{config.kind}' for {role}: valid kinds are {', '.join(kinds)}")
    if not config.path:
        raise _error(role, config, f"no model path set: point models.{role}.path at a model folder")
    folder = Path(config.path).expanduser()
    if not folder.exists():
        raise _error(
            role,
            config,
            f"model path {config.path} does not exist: download the model on a machine with network "
            f"and point models.{role}.path at the folder",
        )
    if not folder.is_dir():
        raise _error(role, config,
                     f"model path {config.path} is not a folder: point models.{role}.path at the model folder")
    if not (folder / "config.json").is_file():
        raise _error(
            role,
            config,
            f"{folder} has no config.json: point models.{role}.path at the folder holding config.json, the weights "
            "and the processor files (a save_pretrained folder or a hub snapshot)",
        )
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise _error(role, config, f"{folder / 'config.json'} is not a readable JSON object: {exc}") from exc
    if model_type not in MODEL_TYPES[config.kind]:
        raise _error(
            role,
            config,
            f"the model in {folder} is of type '{model_type}', not {' or '.join(MODEL_TYPES[config.kind])}: "
            f"set {role}.kind to match the model or point models.{role}.path at a {config.kind} model",
        )
    if config.dtype not in DTYPES:
        raise _error(role, config, f"unknown dtype '{config.dtype}': valid dtypes are {', '.join(DTYPES)}")
    if not config.threshold >= 0.0:
        raise _error(role, config, f"threshold must be >= 0, got {config.threshold}")
    if not config.depth_scale > 0.0:
        raise _error(role, config, f"depth_scale must be > 0, got {config.depth_scale}")
    return folder


def load_backend(role: str, config: ModelConfig) -> PointingBackend | SegmentationBackend | DepthBackend:
    """Load the model of config for role ("pointing", "segmentation" or "depth") and return its backend.

    This is the start-up check: everything is loaded here (not at the first call), and every problem
    (unknown role or kind, missing folder or config.json, unavailable device, missing torch/transformers,
    a failing load) raises ModelConfigError naming role, kind and path.
    """
    folder = check_config(role, config)
    module_name, class_name = KINDS[role][config.kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _error(role, config, f"cannot import the model code ({exc}); install torch and transformers") from exc
    backend_class = getattr(module, class_name)
    try:
        return backend_class(dataclasses.replace(config, path=str(folder)))
    except ModelConfigError as exc:
        raise _error(role, config, str(exc)) from exc
    except Exception as exc:  # a corrupt or mismatched checkpoint: report it as a configuration problem
        raise _error(role, config, f"loading failed: {type(exc).__name__}: {exc}") from exc


__all__ = ["DTYPES", "KINDS", "MODEL_TYPES", "ROLES", "ModelConfig", "ModelConfigError", "check_config", "load_backend"]
