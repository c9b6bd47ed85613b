"""``lgformer parity`` on broken fixtures: one clear error line and exit code 2."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lgformer.cli import main
from tests.test_parity import OTHER_CONFIG, _write_fixture


def _run(path, capsys) -> str:
    assert main(["parity", str(path)]) == 2
    return capsys.readouterr().err


def _tensors_file(tmp_path, tensors: dict[str, torch.Tensor]) -> None:
    save_file(tensors, str(tmp_path / "fixture.safetensors"))


def test_not_json(tmp_path, capsys):
    (tmp_path / "fixture.json").write_text("not json")
    _tensors_file(tmp_path, {"a": torch.zeros(1)})
    assert "is not a JSON file" in _run(tmp_path / "fixture.json", capsys)


def test_incomplete_config(tmp_path, capsys):
    (tmp_path / "fixture.json").write_text(json.dumps({"config": {"embed_dim": 16}}))
    _tensors_file(tmp_path, {"a": torch.zeros(1)})
    assert "bad or incomplete 'config'" in _run(tmp_path / "fixture.json", capsys)


def test_corrupt_safetensors(tmp_path, capsys):
    (tmp_path / "fixture.json").write_text(json.dumps({"config": OTHER_CONFIG, "manifest": []}))
    (tmp_path / "fixture.safetensors").write_bytes(b"garbage")
    assert "is not a safetensors file" in _run(tmp_path / "fixture.json", capsys)


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (lambda k: not k.startswith("input."), "lacks the input tensor(s)"),
        (lambda k: k.startswith("input."), "no output.* or intermediate.* tensors"),
    ],
)
def test_missing_inputs_or_references(tmp_path, capsys, keep, message):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=1, size=(40, 40))
    tensors = load_file(str(tmp_path / "fixture.safetensors"))
    _tensors_file(tmp_path, {k: v for k, v in tensors.items() if keep(k)})
    assert message in _run(path, capsys)


def test_inputs_that_do_not_fit_the_model(tmp_path, capsys):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=1, size=(40, 40))
    tensors = load_file(str(tmp_path / "fixture.safetensors"))
    tensors["input.token_ids"] = tensors["input.token_ids"].float()
    _tensors_file(tmp_path, tensors)
    assert "inputs do not fit: token_ids must be torch.long" in _run(path, capsys)


def test_the_safetensors_sibling_may_be_named(tmp_path, capsys):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=1, size=(40, 40))
    assert main(["parity", str(path.with_suffix(".safetensors"))]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "has no 'manifest' entry: not a parity fixture"),
        ({"a": 1}, "bad 'manifest': a list of entries expected, got dict"),
        (["backbone.x"], "bad 'manifest' entry 0 ('backbone.x'): each entry needs"),
        ([{"key": "backbone.x", "kind": "parameter"}], "bad 'manifest' entry 0"),
        ([{"key": "backbone.x", "shape": 3, "kind": "parameter"}], "'shape' (a list)"),
    ],
)
def test_a_malformed_manifest_is_one_line(tmp_path, capsys, manifest, message):
    path = _write_fixture(tmp_path, OTHER_CONFIG, batch=1, size=(40, 40))
    meta = json.loads(path.read_text())
    if manifest is None:
        del meta["manifest"]
    else:
        meta["manifest"] = manifest
    path.write_text(json.dumps(meta))
    err = _run(path, capsys)
    assert message in err and err.count("\n") == 1
