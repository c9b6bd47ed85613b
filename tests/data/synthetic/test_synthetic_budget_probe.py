"""benchmarks/synthetic_budget_probe.py: the grouped batches of ``--group``."""

from __future__ import annotations

from types import SimpleNamespace

from tests.benchmark_scripts import load_benchmark_script


def test_grouped_batches_hold_runs_of_one_image_and_every_object_at_most_once():
    probe = load_benchmark_script("synthetic_budget_probe")
    # 10 images with 3-6 objects each: 45 samples.
    refs = [SimpleNamespace(image_id=img) for img in range(10) for _ in range(3 + img % 4)]
    batches = probe.grouped_batches(refs, batch=8, group=4, epoch=0)
    flat = [i for b in batches for i in b]
    assert len(batches) == len(refs) // 8 and all(len(b) == 8 for b in batches)
    assert len(set(flat)) == len(flat)
    # Consecutive indices of one image form runs of at most 4 (a new run starts a new image
    # or the next run of the same image).
    runs, current = [], [flat[0]]
    for i in flat[1:]:
        if refs[i].image_id == refs[current[-1]].image_id and len(current) < 4:
            current.append(i)
        else:
            runs.append(current)
            current = [i]
    assert sum(len(r) > 1 for r in runs) > len(runs) // 2
    assert probe.grouped_batches(refs, 8, 4, epoch=0) == batches
    assert probe.grouped_batches(refs, 8, 4, epoch=1) != batches


def test_a_probe_with_the_auxiliary_loss_trains_and_prints_its_result(
    tmp_path, monkeypatch, capsys
):
    import sys

    from lgformer.data.synthetic import write_dataset

    probe = load_benchmark_script("synthetic_budget_probe")
    write_dataset(tmp_path, 8, seed=5, image_size=64)
    argv = ["probe", "--data", str(tmp_path), "--budget", "3", "--size", "64", "--batch", "2"]
    monkeypatch.setattr(sys, "argv", [*argv, "--aux-weight", "1.0", "--val", "8"])
    probe.main()
    result = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RESULT")]
    assert len(result) == 1 and " steps " in result[0] and '"all"' in result[0]
    steps = int(result[0].split(" steps ")[1].split()[0])
    assert steps >= 1
