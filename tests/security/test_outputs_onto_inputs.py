"""No command writes over one of its inputs: each refuses such an output path in one line
before any work starts."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from lgformer.cli import main
from tests.security.train_fixture import tiny_train_config


def _evaluate(refcoco, checkpoint, *extra: str) -> list[str]:
    return [
        "evaluate", "--checkpoint", str(checkpoint), "--data-root", str(refcoco.root),
        "--split", "val", "--image-size", "64", "--num-workers", "0", "--device", "cpu",
        "--no-progress", *extra,
    ]  # fmt: skip


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_evaluate_output_onto_the_checkpoint_is_refused(refcoco, tiny_checkpoint, tmp_path, capsys):
    checkpoint = shutil.copy(tiny_checkpoint, tmp_path / "model.safetensors")
    before = open(checkpoint, "rb").read()
    assert main(_evaluate(refcoco, checkpoint, "--output", str(checkpoint))) == 2
    line = _error(capsys)
    assert f"--output {checkpoint} is the --checkpoint this command reads" in line, line
    assert open(checkpoint, "rb").read() == before


@pytest.mark.parametrize("which", ["refs", "instances", "image"])
def test_evaluate_per_sample_onto_a_data_file_is_refused(refcoco, tiny_checkpoint, capsys, which):
    target = {
        "refs": refcoco.root / "refcoco" / "refs(unc).p",
        "instances": refcoco.root / "refcoco" / "instances.json",
        "image": next((refcoco.root / "images").rglob("*.png")),
    }[which]
    before = target.read_bytes()
    assert main(_evaluate(refcoco, tiny_checkpoint, "--per-sample", str(target))) == 2
    assert str(target) in _error(capsys)
    assert target.read_bytes() == before


def test_evaluate_output_and_per_sample_on_one_file(refcoco, tiny_checkpoint, tmp_path, capsys):
    same = str(tmp_path / "out.json")
    assert main(_evaluate(refcoco, tiny_checkpoint, "--output", same, "--per-sample", same)) == 2
    assert "--per-sample and --output are the same file" in _error(capsys)


def test_segment_would_write_its_mask_over_the_image(tiny_checkpoint, tmp_path, capsys):
    """``segment --text cat --out D`` writes D/00_cat_mask.png: not if that is the image."""
    image = tmp_path / "00_cat_mask.png"
    Image.new("RGB", (40, 30), (9, 99, 199)).save(image)
    before = image.read_bytes()
    args = ["segment", "--checkpoint", str(tiny_checkpoint), "--image", str(image),
            "--device", "cpu", "--image-size", "64", "--text", "cat",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    assert f"--out {image} is the --image this command reads" in _error(capsys)
    assert image.read_bytes() == before
    assert main([*args[:-1], str(tmp_path / "masks")]) == 0  # elsewhere: fine


def test_train_refuses_fine_tuning_from_the_file_it_writes(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"weights of an earlier run")
    config = tiny_train_config(tmp_path, init={"checkpoint": str(run / "best.pt")})
    assert main(["train", "--config", str(config)]) == 2
    line = _error(capsys)
    assert f"output.dir's best.pt {run / 'best.pt'} is the init.checkpoint" in line, line
    assert (run / "best.pt").read_bytes() == b"weights of an earlier run"


def test_export_onto_its_checkpoint_is_refused(tiny_checkpoint, tmp_path, capsys):
    """A safetensors file is recognised whatever its name, so it can be called x.onnx."""
    checkpoint = shutil.copy(tiny_checkpoint, tmp_path / "model.onnx")
    before = open(checkpoint, "rb").read()
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(checkpoint)]) == 2
    assert f"--out {checkpoint} is the --checkpoint this command reads" in _error(capsys)
    assert open(checkpoint, "rb").read() == before


def test_segment_into_a_model_folder_it_reads_is_refused(tiny_model, tmp_path, capsys):
    folder = tmp_path / "model"
    tiny_model.save_pretrained(folder)
    image = tmp_path / "photo.png"
    Image.new("RGB", (40, 30)).save(image)
    argv = ["segment", "--checkpoint", str(folder), "--image", str(image), "--text", "a",
            "--out", str(folder), "--device", "cpu", "--image-size", "64"]  # fmt: skip
    assert main(argv) == 2
    assert f"lies in {folder}, the --checkpoint model folder this command reads" in _error(capsys)


def test_demo_refuses_a_checkpoint_inside_a_scene_folder_it_writes(
    tiny_checkpoint, tmp_path, capsys
):
    scene = tmp_path / "scene_5"
    scene.mkdir()
    checkpoint = shutil.copy(tiny_checkpoint, scene / "model.safetensors")
    argv = ["demo", "--checkpoint", str(checkpoint), "--seed", "5", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert f"the --checkpoint {checkpoint} lies in {scene}, where --out writes" in _error(capsys)
