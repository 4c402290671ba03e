"""The transformers model backends on tiny random-init checkpoints built and saved inside the test.

Nothing is downloaded: every model is built from a tiny config, saved with save_pretrained (model and
processor) into a temporary folder and loaded back through load_backend. The checks cover loading,
pre/post-processing, shapes and types, not accuracy.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame  # noqa: E402
from spacetools_ros.perception.backends import (  # noqa: E402
    BackendError,
    DepthBackend,
    Detection,
    PointingBackend,
    SegmentationBackend,
)
from spacetools_ros.perception.models import KINDS, ModelConfig, ModelConfigError, load_backend  # noqa: E402

H, W = 48, 64  # a non-square frame: exercises the padding / aspect-ratio mappings


def _frame(height: int = H, width: int = W, seed: int = 0) -> RGBDFrame:
    """A random colour frame with intrinsics (and no depth)."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    intr = Intrinsics(fx=50.0, fy=51.0, cx=width / 2, cy=height / 2, width=width, height=height)
    return RGBDFrame(rgb=rgb, depth=None, intrinsics=intr)


def _save_owlv2(folder: Path) -> Path:
    """A tiny OWLv2 (CLIP tokenizer with a character vocabulary, 64x64 input) saved into folder."""
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

    # like CLIP's: "!" is id 0 (OWL pads with it; a query whose first id is 0 counts as padding)
    vocab = {"!": 0}
    for c in string.ascii_lowercase:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=16)
    config = Owlv2Config(
        text_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=len(vocab),
            max_position_embeddings=16,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=0,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    Owlv2ForObjectDetection(config).save_pretrained(folder)
    image_processor = Owlv2ImageProcessorPil(size={"height": 64, "width": 64})
    Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _save_grounding_dino(folder: Path) -> Path:
    """A tiny Grounding DINO (Swin + BERT backbones, word-level BERT vocabulary) saved into folder."""
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
    )
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    words = ["red", "cup", "the", "bowl", "a", "blue", ".", "left", "of"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = BertTokenizer(vocab=vocab, model_max_length=32)
    config = GroundingDinoConfig(
        backbone_config=dict(
            model_type="swin",
            image_size=64,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=2,
            out_indices=[2, 3, 4],
        ),
        text_config=dict(
            model_type="bert",
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 breaks the bbox_embed weight tying of transformers 5.23
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=10,
        num_feature_levels=3,  # one per backbone output (out_indices)
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
        disable_custom_kernels=True,
    )
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 48, "longest_edge": 64})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _save_sam(folder: Path) -> Path:
    """A tiny SAM (64x64 input, 4x4 image embedding, 16x16 low-resolution masks) saved into folder."""
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    config = SamConfig(
        vision_config=dict(
            hidden_size=32,
            output_channels=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
            window_size=2,
            global_attn_indexes=[1],
            num_pos_feats=8,
            mlp_dim=32,
        ),
        prompt_encoder_config=dict(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(
            hidden_size=16, mlp_dim=32, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=16
        ),
    )
    torch.manual_seed(0)
    SamModel(config).save_pretrained(folder)
    image_processor = SamImageProcessorPil(
        size={"longest_edge": 64},
        pad_size={"height": 64, "width": 64},
        mask_size={"longest_edge": 16},
        mask_pad_size={"height": 16, "width": 16},
    )
    SamProcessor(image_processor=image_processor).save_pretrained(folder)
    return folder


def _save_depth_anything(folder: Path, depth_estimation_type: str = "metric") -> Path:
    """A tiny Depth Anything (DINOv2 backbone, hidden 32, 4 layers, patch 14) saved into folder."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    config = DepthAnythingConfig(
        backbone_config=dict(
            model_type="dinov2",
            image_size=56,
            patch_size=14,
            hidden_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=37,
            out_indices=[1, 2, 3, 4],
            reshape_hidden_states=False,
        ),
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 16, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type=depth_estimation_type,
        max_depth=5,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config)
    if depth_estimation_type == "relative":
        with torch.no_grad():  # the last conv's input is >= 0 (ReLU): now its output is >= 1, disparity >= max_depth
            model.head.conv3.weight.abs_()
            model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every tiny checkpoint (built once for the module)."""
    root = tmp_path_factory.mktemp("models")
    _save_owlv2(root / "owlv2")
    _save_grounding_dino(root / "grounding_dino")
    _save_sam(root / "sam")
    _save_depth_anything(root / "depth_metric", "metric")
    _save_depth_anything(root / "depth_relative", "relative")
    return root


def _check_detections(detections: list[Detection], max_results: int, phrase: str) -> None:
    """Detections are well-formed: normalised points inside their boxes, best first, at most max_results."""
    assert 1 <= len(detections) <= max_results
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        assert isinstance(d, Detection)
        x, y = d.point
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        assert d.box is not None
        x0, y0, x1, y1 = d.box
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
        assert x0 <= x <= x1 and y0 <= y <= y1
        assert isinstance(d.score, float) and 0.0 <= d.score <= 1.0
        assert d.label == phrase


# ---------------------------------------------------------------- configuration errors


def test_package_import_does_not_import_torch() -> None:
    """Importing the models package (no model configured) must not pull in torch or transformers."""
    import subprocess
    import sys

    code = (
        "import sys; import spacetools_ros.perception.models as m; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'; print(m.KINDS)"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root)
    assert result.returncode == 0, result.stderr


def test_missing_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelConfigError) as err:
        load_backend("pointing", ModelConfig(kind="owlv2", path=str(missing)))
    message = str(err.value)
    assert f"model path {missing} does not exist" in message
    assert "pointing.path" in message and "owlv2" in message


def test_unknown_kind_lists_kinds(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError) as err:
        load_backend("segmentation", ModelConfig(kind="mask_rcnn", path=str(tmp_path)))
    message = str(err.value)
    assert "mask_rcnn" in message and "sam" in message and "segmentation" in message
    with pytest.raises(ModelConfigError) as err:
        load_backend("pointing", ModelConfig(kind="sam", path=str(tmp_path)))
    assert "owlv2" in str(err.value) and "grounding_dino" in str(err.value)


def test_unknown_role(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="pointing, segmentation, depth"):
        load_backend("grasping", ModelConfig(kind="owlv2", path=str(tmp_path)))


def test_folder_without_config_json(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelConfigError, match="config.json") as err:
        load_backend("depth", ModelConfig(kind="depth_anything", path=str(tmp_path)))
    assert str(tmp_path) in str(err.value)


def test_bad_dtype_and_device(model_root: Path) -> None:
    path = str(model_root / "sam")
    with pytest.raises(ModelConfigError, match="dtype"):
        load_backend("segmentation", ModelConfig(kind="sam", path=path, dtype="float8"))
    with pytest.raises(ModelConfigError, match="device"):
        load_backend("segmentation", ModelConfig(kind="sam", path=path, device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelConfigError, match="CUDA is not available"):
            load_backend("segmentation", ModelConfig(kind="sam", path=path, device="cuda"))


def test_model_of_another_family(model_root: Path) -> None:
    """A folder holding another model family is refused before loading (not run with random weights)."""
    path = str(model_root / "sam")
    with pytest.raises(ModelConfigError, match="of type 'sam', not owlv2") as err:
        load_backend("pointing", ModelConfig(kind="owlv2", path=path))
    assert path in str(err.value) and "pointing" in str(err.value)


def test_load_failure_is_wrapped(model_root: Path, tmp_path: Path) -> None:
    """Corrupt or incomplete weights fail at load time, with the cause in the message."""
    import shutil

    from safetensors.torch import load_file, save_file

    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_root / "sam", corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelConfigError, match="loading failed") as err:
        load_backend("segmentation", ModelConfig(kind="sam", path=str(corrupt)))
    assert str(corrupt) in str(err.value) and "segmentation" in str(err.value)

    partial = tmp_path / "partial"
    shutil.copytree(model_root / "sam", partial)
    weights = load_file(partial / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("mask_decoder.")}, partial / "model.safetensors")
    with pytest.raises(ModelConfigError, match="lacks .* weight"):
        load_backend("segmentation", ModelConfig(kind="sam", path=str(partial)))


def test_kinds_cover_the_roles() -> None:
    assert set(KINDS) == {"pointing", "segmentation", "depth"}
    assert {"owlv2", "grounding_dino"} <= set(KINDS["pointing"])


# ---------------------------------------------------------------- OWLv2


def test_owlv2_padded_box_mapping() -> None:
    """A box normalised on OWLv2's bottom/right-padded square maps onto the original image."""
    from spacetools_ros.perception.models.owlv2 import padded_boxes_to_original

    # a 48x64 image pads to 64x64: the full image is x in [0, 1], y in [0, 0.75] of the square
    box = padded_boxes_to_original(np.array([[0.0, 0.0, 1.0, 0.75]]), H, W)
    np.testing.assert_allclose(box, [[0.0, 0.0, 1.0, 1.0]])
    # portrait 64x48: the image is x in [0, 0.75] of the square
    box = padded_boxes_to_original(np.array([[0.375, 0.5, 0.75, 1.0]]), 64, 48)
    np.testing.assert_allclose(box, [[0.5, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(
        padded_boxes_to_original(np.array([[0.1, 0.2, 0.3, 0.4]]), H, W, padded=False), [[0.1, 0.2, 0.3, 0.4]]
    )


def test_owlv2_processor_pads_bottom_right(model_root: Path) -> None:
    """The assumption behind padded_boxes_to_original, checked on the installed image processor."""
    from transformers import Owlv2Processor

    processor = Owlv2Processor.from_pretrained(str(model_root / "owlv2"), local_files_only=True)
    white = np.full((H, W, 3), 255, dtype=np.uint8)  # 48x64 pads to 64x64, the processor's size: no resize
    pixels = processor.image_processor(images=white, return_tensors="np")["pixel_values"][0]
    assert pixels.shape == (3, 64, 64)
    assert np.allclose(pixels[:, : H - 2, :], pixels[:, :1, :1], atol=1e-3)  # the image: top rows
    assert np.allclose(pixels[:, H + 2 :, :], pixels[:, -1:, -1:], atol=1e-3)  # the padding: bottom rows
    assert not np.allclose(pixels[:, 0, 0], pixels[:, -1, -1], atol=1e-2)


def test_owlv2_detect(model_root: Path) -> None:
    backend = load_backend("pointing", ModelConfig(kind="owlv2", path=str(model_root / "owlv2"), threshold=0.0))
    assert isinstance(backend, PointingBackend)
    frame = _frame()
    detections = backend.detect(frame, "red cup", max_results=3)
    _check_detections(detections, 3, "red cup")
    # long phrases are truncated to the text encoder's length, not an error
    _check_detections(
        backend.detect(frame, "the red cup left of the blue bowl on the table", 2),
        2,
        "the red cup left of the blue bowl on the table",
    )


def test_owlv2_nothing_above_threshold(model_root: Path) -> None:
    backend = load_backend("pointing", ModelConfig(kind="owlv2", path=str(model_root / "owlv2"), threshold=1.0))
    with pytest.raises(BackendError, match="nothing matching 'red cup' was found"):
        backend.detect(_frame(), "red cup", max_results=3)
    with pytest.raises(BackendError):
        backend.detect(_frame(), "  ", max_results=3)


def test_grounding_dino_detect(model_root: Path) -> None:
    path = str(model_root / "grounding_dino")
    backend = load_backend("pointing", ModelConfig(kind="grounding_dino", path=path, threshold=0.0))
    assert isinstance(backend, PointingBackend)
    _check_detections(backend.detect(_frame(), "the red cup", max_results=2), 2, "the red cup")
    strict = load_backend("pointing", ModelConfig(kind="grounding_dino", path=path, threshold=1.0))
    with pytest.raises(BackendError, match="nothing matching 'the red cup' was found"):
        strict.detect(_frame(), "the red cup", max_results=2)


# ---------------------------------------------------------------- SAM


def test_sam_segment_non_square(model_root: Path) -> None:
    backend = load_backend("segmentation", ModelConfig(kind="sam", path=str(model_root / "sam")))
    assert isinstance(backend, SegmentationBackend)
    frame = _frame()
    mask, score = backend.segment(frame, np.array([[0.5, 0.5], [0.6, 0.4]]))
    assert mask.shape == (H, W) and mask.dtype == bool
    assert isinstance(score, float) and np.isfinite(score)
    # the cached image embedding gives the same answer for the same frame
    mask2, score2 = backend.segment(frame, np.array([[0.5, 0.5], [0.6, 0.4]]))
    assert np.array_equal(mask, mask2) and score == pytest.approx(score2, abs=1e-5)
    # one point (a 1-D array), and a portrait frame
    tall = _frame(64, 40, seed=1)
    mask3, _ = backend.segment(tall, np.array([0.2, 0.9]))
    assert mask3.shape == (64, 40) and mask3.dtype == bool


def test_sam_rejects_bad_points(model_root: Path) -> None:
    backend = load_backend("segmentation", ModelConfig(kind="sam", path=str(model_root / "sam")))
    with pytest.raises(BackendError):
        backend.segment(_frame(), np.zeros((0, 2)))
    with pytest.raises(BackendError):
        backend.segment(_frame(), np.array([[np.nan, 0.5]]))


# ---------------------------------------------------------------- Depth Anything


def test_depth_anything_metric(model_root: Path) -> None:
    config = ModelConfig(kind="depth_anything", path=str(model_root / "depth_metric"))
    backend = load_backend("depth", config)
    assert isinstance(backend, DepthBackend)
    frame = _frame()
    depth, focal = backend.estimate(frame)
    assert depth.shape == (H, W) and depth.dtype == np.float32
    assert np.all(np.isfinite(depth)) and np.all(depth >= 0) and depth.max() <= 5.0 + 1e-4  # max_depth
    assert focal == frame.intrinsics.fx
    scaled, _ = load_backend("depth", ModelConfig(kind="depth_anything", path=config.path, depth_scale=2.0)).estimate(
        frame
    )
    np.testing.assert_allclose(scaled, 2.0 * depth, rtol=1e-5)


def test_depth_anything_relative(model_root: Path) -> None:
    from spacetools_ros.perception.models.depth_anything import prediction_to_metres

    config = ModelConfig(kind="depth_anything", path=str(model_root / "depth_relative"), depth_scale=3.0)
    backend = load_backend("depth", config)
    frame = _frame(40, 70, seed=2)
    depth, focal = backend.estimate(frame)
    assert depth.shape == (40, 70) and depth.dtype == np.float32
    assert np.all(np.isfinite(depth)) and np.all(depth > 0) and depth.max() <= 3.0 / 5 + 1e-4  # disparity >= 5
    assert focal == frame.intrinsics.fx
    # relative predictions are disparities: depth = depth_scale / disparity, 0 where there is none
    out = prediction_to_metres(np.array([[2.0, 0.0], [-1.0, np.inf]]), "relative", 3.0)
    np.testing.assert_allclose(out, [[1.5, 0.0], [0.0, 0.0]])
    assert out.dtype == np.float32


@pytest.mark.parametrize("dtype", ["bfloat16"])
def test_reduced_precision(model_root: Path, dtype: str) -> None:
    """Every backend runs with a reduced-precision dtype and still returns float32 / bool numpy results."""
    frame = _frame()
    owl = load_backend("pointing", ModelConfig(kind="owlv2", path=str(model_root / "owlv2"), dtype=dtype, threshold=0))
    _check_detections(owl.detect(frame, "red cup", 2), 2, "red cup")
    sam = load_backend("segmentation", ModelConfig(kind="sam", path=str(model_root / "sam"), dtype=dtype))
    mask, score = sam.segment(frame, np.array([[0.5, 0.5]]))
    assert mask.shape == (H, W) and mask.dtype == bool and isinstance(score, float)
    depth_config = ModelConfig(kind="depth_anything", path=str(model_root / "depth_metric"), dtype=dtype)
    depth, _ = load_backend("depth", depth_config).estimate(frame)
    assert depth.shape == (H, W) and depth.dtype == np.float32 and np.all(np.isfinite(depth))
