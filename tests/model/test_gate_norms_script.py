"""benchmarks/gate_norms.py: gate-weight norms of a checkpoint against a reference."""

import json

import pytest
import torch

from lgformer.checkpoints import save_model
from lgformer.checkpoints.io import read_checkpoint
from tests.benchmark_scripts import load_benchmark_script
from tests.conftest import make_tiny_model


def test_ratios_of_a_model_with_doubled_gates(tmp_path, capsys):
    script = load_benchmark_script("gate_norms")
    model = make_tiny_model()
    gates = [p for n, p in model.named_parameters() if "res_gate" in n and n.endswith("weight")]
    with torch.no_grad():
        for param in gates:  # the released init closes them (zeros)
            param.normal_(std=0.02)
    reference = save_model(model, tmp_path / "reference.safetensors")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "res_gate" in name and name.endswith("weight") and ".layers.3." not in name:
                param.mul_(2)
    wider = save_model(model, tmp_path / "wider.safetensors")
    out = tmp_path / "gates.json"
    assert script.main([str(wider), "--reference", str(reference), "--output", str(out)]) == 0
    ratios = json.loads(out.read_text())[str(wider)]
    assert ratios.pop("mean") == pytest.approx(2.0)
    assert len(ratios) == 12  # res_gate and sym_res_gate, 2 weights each, stages 0-2
    assert all(r == pytest.approx(2.0) for r in ratios.values())
    assert "mean gate-norm ratio 2.00" in capsys.readouterr().out
    untouched = script.gate_norm_ratios(model.state_dict(), read_checkpoint(reference)[0], [3])
    assert untouched["mean"] == pytest.approx(1.0)
