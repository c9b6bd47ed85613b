"""Loading released-format and own checkpoints, and the errors for wrong ones."""

import argparse

import pytest
import torch

from lgformer.checkpoints import (
    infer_config,
    load_checkpoint_into,
    load_model,
    read_checkpoint,
    save_model,
)
from lgformer.config import build_config
from lgformer.errors import CheckpointMismatchError, LGFormerError
from lgformer.model import build_lgformer
from tests.conftest import make_tiny_model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sb = b.state_dict()
    return all(torch.equal(v, sb[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("layout", ["bare", "wrapped", "module_prefix", "wrapped_module_prefix"])
def test_released_layouts_load_into_a_model(tmp_path, layout):
    source = make_tiny_model(seed=1)
    sd = source.state_dict()
    if "module" in layout:
        sd = {f"module.{k}": v for k, v in sd.items()}
    obj = (
        {"model": sd, "args": argparse.Namespace(lr=5e-5), "epoch": 39}
        if "wrapped" in layout
        else sd
    )
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    target = make_tiny_model(seed=2)
    assert not _same_weights(source, target)
    load_checkpoint_into(target, path)
    assert _same_weights(source, target)


def test_load_model_infers_the_config_of_a_released_style_checkpoint(tmp_path):
    source = make_tiny_model(seed=1)
    path = tmp_path / "released.pth"
    torch.save({"model": source.state_dict()}, path)
    cfg = infer_config(read_checkpoint(path)[0])
    assert cfg.swin.window_size == 4 and cfg.swin.depths == (1, 2, 1, 1)
    assert cfg.text.hidden_size == 32 and cfg.max_words == 20
    model = load_model(path)
    assert not model.training and _same_weights(source, model)


def test_safetensors_round_trip_keeps_config_and_outputs(tmp_path):
    source = make_tiny_model(seed=4)
    path = save_model(source, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.config == source.config
    image = torch.randn(1, 3, 64, 64)
    ids = torch.tensor([[101, 5, 6, 102] + [0] * 16])
    mask = (ids > 0).long()
    torch.testing.assert_close(
        loaded(image, ids, mask).pred_logits, source(image, ids, mask).pred_logits
    )


def test_wrong_window_names_keys_and_cause(tmp_path):
    path = tmp_path / "w4.pth"
    torch.save({"model": make_tiny_model().state_dict()}, path)
    cfg = build_config("test_tiny")
    cfg.swin.window_size = 7
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint_into(build_lgformer(cfg), path)
    msg = str(err.value)
    assert "backbone.layers.0.blocks.0.attn.relative_position_bias_table" in msg
    assert "window 4" in msg and "window 7" in msg


def _mismatch_message(state_dict: dict, path) -> str:
    """Saves ``state_dict`` to ``path``; the error of loading it into the tiny model."""
    torch.save(state_dict, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint_into(make_tiny_model(), path)
    return str(err.value)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    sd = make_tiny_model().state_dict()
    del sd["classifier.txt_proj.weight"]
    sd["classifier.extra.weight"] = torch.zeros(3)
    msg = _mismatch_message(sd, tmp_path / "broken.pth")
    assert "missing from the checkpoint (1)" in msg and "classifier.txt_proj.weight" in msg
    assert "unexpected in the checkpoint (1)" in msg and "classifier.extra.weight" in msg


def test_values_that_are_not_weight_tensors_are_named(tmp_path):
    """A number or a 0-d tensor under a weight's name is a mismatch, not a crash."""
    sd = make_tiny_model().state_dict()
    sd["backbone.patch_embed.proj.weight"] = 3
    sd["backbone.layers.0.blocks.0.attn.relative_position_bias_table"] = torch.tensor(1.0)
    msg = _mismatch_message(sd, tmp_path / "odd.pth")
    assert "backbone.patch_embed.proj.weight: not a tensor (int)" in msg
    assert "relative_position_bias_table: () vs" in msg


def test_swin_size_mismatch_is_explained(tmp_path):
    path = tmp_path / "t.pth"
    torch.save(make_tiny_model().state_dict(), path)
    cfg = build_config("test_tiny")
    cfg.swin.embed_dim = 32
    with pytest.raises(CheckpointMismatchError, match="embed_dim 16"):
        load_checkpoint_into(build_lgformer(cfg), path)


def test_swin_imagenet_checkpoint_is_recognised(tmp_path):
    path = tmp_path / "swin.pth"
    torch.save(
        {
            "model": {
                "patch_embed.proj.weight": torch.zeros(16, 3, 4, 4),
                "layers.0.blocks.0.norm1.weight": torch.zeros(16),
            }
        },
        path,
    )
    with pytest.raises(CheckpointMismatchError, match="Swin ImageNet checkpoint"):
        load_checkpoint_into(make_tiny_model(), path)
    with pytest.raises(LGFormerError, match="not an LGFormer checkpoint"):
        load_model(path)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(LGFormerError, match="not found"):
        load_model(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(LGFormerError, match="cannot read"):
        load_model(junk)


def test_half_precision_file_without_frozen_text_encoder(tmp_path):
    from lgformer.checkpoints.bert import load_bert_weights

    cfg = build_config("test_tiny")
    cfg.text.hidden_size, cfg.text.num_hidden_layers = 384, 6
    cfg.text.num_attention_heads, cfg.text.intermediate_size = 12, 1536
    cfg.text.max_position_embeddings = 512
    model = build_lgformer(cfg).eval()
    load_bert_weights(model.text_encoder, "minilm")
    full = save_model(model, tmp_path / "full.safetensors")
    slim = save_model(
        model, tmp_path / "slim.safetensors", dtype=torch.float16, text_encoder_source="minilm"
    )
    assert slim.stat().st_size < full.stat().st_size / 4
    loaded = load_model(slim)
    for key, value in model.state_dict().items():
        other = loaded.state_dict()[key]
        if key.startswith("text_encoder."):
            assert torch.equal(other, value), key
        else:
            torch.testing.assert_close(other, value, rtol=1e-3, atol=1e-3)
    # A fine-tuned text encoder must not be silently replaced by the pretrained one.
    with torch.no_grad():
        model.text_encoder.encoder.layer[0].output.dense.bias.add_(1)
    with pytest.raises(LGFormerError, match="differs"):
        save_model(model, tmp_path / "bad.safetensors", text_encoder_source="minilm")


def test_empty_checkpoint_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "download.pth"
    empty.write_bytes(b"")  # an interrupted download
    with pytest.raises(LGFormerError, match=r"download\.pth is empty \(0 bytes\)"):
        load_model(empty)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoint_says_truncated(tmp_path, legacy):
    full = tmp_path / "full.pth"
    torch.save(
        {"model": make_tiny_model().state_dict()},
        full,
        _use_new_zipfile_serialization=not legacy,
    )
    data = full.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LGFormerError) as err:
        load_checkpoint_into(make_tiny_model(), cut)
    msg = str(err.value)
    assert f"cannot read checkpoint {cut}: the file is truncated or corrupt" in msg
    assert "\n" not in msg and "trust" not in msg  # no advice to re-save a broken file


def test_checkpoint_with_python_objects_gets_the_re_save_advice(tmp_path):
    path = tmp_path / "objects.pth"
    torch.save({"model": make_tiny_model().state_dict(), "extra": _Opaque()}, path)
    with pytest.raises(LGFormerError, match="holds code or objects that are not tensors; it was"):
        load_model(path)


class _Opaque:
    """A class that ``torch.load(weights_only=True)`` refuses."""


def test_stored_config_of_another_version_is_a_clear_error(tmp_path):
    path = tmp_path / "train.pt"
    config = build_config("test_tiny").to_dict()
    config["swin"]["renamed_field"] = 1
    torch.save({"model": make_tiny_model().state_dict(), "model_config": config}, path)
    with pytest.raises(LGFormerError, match=r"model config stored with .*train\.pt does not fit"):
        load_model(path)


def test_malformed_sibling_json_of_a_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in make_tiny_model().state_dict().items()}, str(path))
    (tmp_path / "weights.json").write_text("{not json")
    with pytest.raises(LGFormerError, match=r"cannot read .*weights\.json: not valid JSON"):
        load_model(path)


def test_files_that_are_not_checkpoints_are_named_as_such(tmp_path):
    from PIL import Image

    image = tmp_path / "photo.pth"
    Image.new("RGB", (4, 4)).save(image, format="PNG")
    text = tmp_path / "notes.pt"
    text.write_text("hello world\n" * 10)
    for path in (image, text):
        with pytest.raises(LGFormerError) as err:
            load_model(path)
        msg = str(err.value)
        assert "is not a PyTorch checkpoint (torch.save) or a safetensors file" in msg
        assert "trust" not in msg and "\n" not in msg
    with pytest.raises(LGFormerError, match="is a directory: give the checkpoint file in it"):
        load_model(tmp_path)


def test_safetensors_files_are_recognised_whatever_their_name(tmp_path):
    model = make_tiny_model().eval()
    renamed = save_model(model, tmp_path / "weights.safetensors").rename(tmp_path / "weights.pt")
    loaded = load_model(renamed)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_safetensors_file_from_another_writer_loads_with_its_values(tmp_path):
    """``safetensors.torch.save_file`` packs tensors back to back (most not 64-byte
    aligned): they are copied on loading, with the same values."""
    from safetensors.torch import save_file

    source = make_tiny_model(seed=3)
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    loaded = load_model(path)
    assert _same_weights(loaded, source)
    assert all(p.data_ptr() % 64 == 0 for p in loaded.parameters())
