"""The model computes what the authors' released code computes (../shared/parity)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from lgformer.cli import main
from lgformer.config import LGFormerConfig
from lgformer.model import build_lgformer
from lgformer.parity import (
    TOLERANCE,
    check_fixture,
    fill_formula_weights,
    formula_weight,
    run_model,
)
from tests.model.spec_reference import FIXTURE_DIR, ODD_FIXTURES


def test_shared_fixture_matches_within_tolerance(shared_parity_dir):
    errors = check_fixture(shared_parity_dir / "lgformer_small.json")
    expected = {f"output.mask_logits.{i}" for i in range(7)} | {
        f"intermediate.backbone.stage{i}" for i in range(4)
    }
    assert expected <= set(errors)
    assert len(errors) == 16
    worst = max(errors.values())
    assert worst < TOLERANCE, errors


@pytest.mark.parametrize("name", sorted(ODD_FIXTURES))
def test_odd_size_fixtures_match_within_tolerance(name, capsys):
    """Sizes that are not multiples of 4: the logits go straight to the input size."""
    path = FIXTURE_DIR / f"{name}.json"
    errors = check_fixture(path)
    assert len(errors) == 16
    assert max(errors.values()) < TOLERANCE, errors
    assert main(["parity", str(path)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_parity_cli_passes_on_shared_fixture(shared_parity_dir, capsys):
    assert main(["parity", str(shared_parity_dir / "lgformer_small.json")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "output.mask_logits.6" in out


def test_formula_weight_follows_the_fixture_readme():
    w = formula_weight("a.weight", (3,))
    assert w.dtype.name == "float32"
    assert abs(w.mean() - 1) < 0.3  # 1 + 0.1 N(0, 1)
    m = formula_weight("a.weight", (64, 32))
    assert abs(float(m.std()) - 32**-0.5) < 0.02
    assert (formula_weight("x.bias", (5,)) == formula_weight("x.bias", (5,))).all()


def _write_fixture(tmp_path, config: dict, batch: int, size: tuple[int, int], corrupt=False):
    """A fixture in the shared format for another configuration, made with this model."""
    cfg = LGFormerConfig.from_parity_config(config)
    model = build_lgformer(cfg).eval()
    fill_formula_weights(model)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, config["bert"]["vocab_size"], (batch, 20), generator=g)
    mask = torch.zeros(batch, 20, dtype=torch.long)
    for i in range(batch):
        mask[i, : 3 + 5 * i] = 1
    ids = ids * mask
    tensors = {
        "input.image": torch.randn(batch, 3, *size, generator=g),
        "input.token_ids": ids,
        "input.attention_mask": mask,
    }
    outputs = run_model(model, tensors)
    if corrupt:
        outputs["output.mask_logits.1"] = outputs["output.mask_logits.1"] * 1.01
    tensors.update(outputs)
    manifest = [
        {"key": k, "shape": list(v.shape), "dtype": "float32", "kind": "parameter"}
        for k, v in model.named_parameters()
    ]
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps({"config": config, "manifest": manifest}))
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "fixture.safetensors")
    )
    return path


OTHER_CONFIG = {
    "embed_dim": 16,
    "depths": [1, 2, 1, 1],
    "num_heads": [1, 2, 2, 4],
    "window_size": 5,
    "fusion_heads": [2, 1, 2, 4],
    "bert": {
        "vocab_size": 50,
        "hidden_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "intermediate_size": 32,
        "max_position_embeddings": 24,
        "type_vocab_size": 2,
    },
}


def test_parity_tool_handles_other_sizes_windows_heads_and_batches(tmp_path, capsys):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=3, size=(70, 54))
    assert main(["parity", str(path)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_parity_tool_fails_on_a_wrong_output(tmp_path, capsys):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=2, size=(64, 64), corrupt=True)
    assert main(["parity", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "output.mask_logits.1" in out


def test_missing_fixture_is_a_clear_error(tmp_path, capsys):
    assert main(["parity", str(tmp_path / "nope.json")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("window", [7, 12])
def test_relative_position_index_buffers_match_released_layout(window):
    from lgformer.model.swin import relative_position_index

    idx = relative_position_index(window)
    assert idx.shape == (window**2, window**2)
    assert idx.min() == 0 and idx.max() == (2 * window - 1) ** 2 - 1
    # The centre of the table is the zero offset: the diagonal.
    assert (idx.diagonal() == (window - 1) * (2 * window - 1) + window - 1).all()
