"""ONNX export of a small preset and its onnxruntime run: names, shapes, metadata, parity.

One export (test_tiny at 64 px, a minute or more on a busy CPU) serves every test here.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from lgformer.checkpoints import load_model, save_model
from lgformer.cli import main
from lgformer.errors import LGFormerError
from lgformer.inference import ReferringSegmenter
from lgformer.model_info import ModelInfo
from tests.conftest import make_tiny_model

SIZE = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(checkpoint, its .onnx export) of a test_tiny model trained, it says, at 64 px."""
    folder = tmp_path_factory.mktemp("onnx")
    model = make_tiny_model()
    checkpoint = save_model(model, folder / "tiny.safetensors", info=ModelInfo(SIZE, "a test"))
    out = folder / "tiny.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    return checkpoint, out


def _inputs(batch: int, words: int = 20, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, SIZE, SIZE, generator=g)
    ids = torch.randint(1, 120, (batch, words), generator=g)
    mask = torch.ones(batch, words, dtype=torch.int64)
    for b in range(batch):  # sentences of different lengths
        mask[b, 3 + 5 * b :] = 0
        ids[b, 3 + 5 * b :] = 0
    return image, ids, mask


def test_graph_names_shapes_and_metadata(exported):
    _, path = exported
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.input, *graph.output]
    }
    batch = dims["image"][0]
    assert isinstance(batch, str)  # a dynamic axis
    assert dims == {
        "image": [batch, 3, SIZE, SIZE],
        "token_ids": [batch, 20],
        "attention_mask": [batch, 20],
        "pred_logits": [batch, 1, SIZE, SIZE],
    }
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}
    assert types == {
        "image": onnx.TensorProto.FLOAT,
        "token_ids": onnx.TensorProto.INT64,
        "attention_mask": onnx.TensorProto.INT64,
        "pred_logits": onnx.TensorProto.FLOAT,
    }
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert meta["image_size"] == str(SIZE) and meta["max_words"] == "20"
    assert meta["origin"] == "a test" and "WordPiece" in meta["tokenizer"]


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_matches_pytorch(exported, batch):
    checkpoint, path = exported
    model = load_model(checkpoint)
    image, ids, mask = _inputs(batch)
    with torch.no_grad():
        ref = model(image, ids, mask).pred_logits
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"image": image.numpy(), "token_ids": ids.numpy(), "attention_mask": mask.numpy()}
    (got,) = session.run(["pred_logits"], feed)
    assert got.shape == (batch, 1, SIZE, SIZE)
    assert np.linalg.norm(got - ref.numpy()) / np.linalg.norm(ref.numpy()) < 1e-4


def test_segment_and_the_predictor_run_an_onnx_file(exported, tmp_path, capsys):
    checkpoint, path = exported
    rgb = (np.random.default_rng(1).random((37, 53, 3)) * 255).astype(np.uint8)
    sentences = ["[unused1]", "[unused5] [unused7]"]
    by_onnx = ReferringSegmenter.from_checkpoint(path, device="cpu")
    assert by_onnx.image_size == SIZE
    by_torch = ReferringSegmenter.from_checkpoint(checkpoint, device="cpu")
    a, b = by_onnx.predict_logits(rgb, sentences), by_torch.predict_logits(rgb, sentences)
    assert float((a - b).norm() / b.norm()) < 1e-4
    image = tmp_path / "img.png"
    Image.fromarray(rgb).save(image)
    argv = ["segment", "--checkpoint", str(path), "--image", str(image), "--text", "[unused1]"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0
    assert f"input {SIZE}x{SIZE} px (the size it was trained at)" in capsys.readouterr().out
    assert (tmp_path / "o" / "00_unused1_mask.png").is_file()
    with pytest.raises(LGFormerError, match="exported for 64x64 images, not 96"):
        ReferringSegmenter.from_checkpoint(path, device="cpu", image_size=96)


def test_export_refuses_an_old_opset_and_a_wrong_name(tiny_checkpoint, tmp_path, capsys):
    base = ["export", "--checkpoint", str(tiny_checkpoint)]
    assert main([*base, "--out", str(tmp_path / "m.onnx"), "--opset", "15"]) == 2
    assert "grid_sample needs opset 16" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "m.pth")]) == 2
    assert "ending in .onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_serve_takes_an_onnx_file(exported, segmenters_built_by_serve):
    _, path = exported
    assert main(["serve", "--checkpoint", str(path), "--port", "0", "--device", "cpu"]) == 2
    (seg,) = segmenters_built_by_serve
    assert type(seg.model).__name__ == "OnnxLGFormer" and seg.image_size == SIZE
    masks = seg.segment(np.zeros((20, 30, 3), np.uint8), ["[unused1]"])
    assert masks.shape == (1, 20, 30)


def test_a_channel_nearly_constant_over_many_tokens_normalises_in_onnxruntime(tmp_path):
    """VLBA's token instance norm, exported: a channel whose mean is 1e4 times its std
    over 14400 tokens (as VLBA's word-attention output at 480 px on the parity weights)
    keeps its variation in onnxruntime. Against the exact result of the float32 input:
    onnxruntime ~1e-6 with the export's shift, 5e-3 without; eager float32 2e-4."""
    from lgformer.model.fusion import _instance_norm_tokens

    class Norm(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _instance_norm_tokens(x, 1e-5)

    g = torch.Generator().manual_seed(0)
    x = (300.0 + 0.03 * torch.randn(1, 14400, 4, generator=g, dtype=torch.float64)).float()
    ref = _instance_norm_tokens(x.double(), 1e-5).numpy()  # the float32 input, exactly
    path = tmp_path / "norm.onnx"
    torch.onnx.export(Norm(), (x,), dynamo=True, opset_version=18, verbose=False).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    error = float(np.linalg.norm(got.astype(np.float64) - ref) / np.linalg.norm(ref))
    assert error < 1e-4
