"""Load time and peak memory of a released-format ``.pth`` vs the model folder made from it.

    python benchmarks/bench_model_folder.py                       # swin_base_w12, 3 rounds
    python benchmarks/bench_model_folder.py --preset test_tiny --rounds 1 --workdir /tmp/b

Writes ``released.pth`` (``{'model': state_dict}`` of the preset with the parity formula
weights, as the released checkpoints are laid out) and converts it with ``lgformer
convert``. Then each round loads each file in a fresh process (``.pth``, folder, ``.pth``,
folder, ...) and reports, per format, the medians of: the seconds to read the file
(``read_model_file``), the seconds for the whole ``load_model`` (read, build, copy), and
the process's peak resident memory over its resident memory after the imports.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mib() -> float:
    """Peak resident memory of this process so far, MiB. ``VmHWM``, not ``ru_maxrss``: on
    Linux a process started by ``exec`` inherits its parent's ``ru_maxrss``."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def child(path: str) -> None:
    """Runs in a fresh process: times one read and one full load of ``path``; prints JSON."""
    import torch
    from transformers import BertModel  # noqa: F401 - imported before timing

    from lgformer.checkpoints import load_model
    from lgformer.checkpoints.io import read_model_file

    torch.set_num_threads(1)
    base = _rss_mib()
    started = time.perf_counter()
    found = read_model_file(path)
    sum(float(v.flatten()[0]) for v in found.state_dict.values())  # touch every tensor
    read_s = time.perf_counter() - started
    del found
    started = time.perf_counter()
    load_model(path)
    load_s = time.perf_counter() - started
    print(json.dumps({"read_s": read_s, "load_s": load_s, "peak_mib": _rss_mib() - base}))


def make_files(workdir: Path, preset: str) -> tuple[Path, Path, float]:
    """(released.pth, its folder, seconds ``lgformer convert`` took)."""
    import torch

    from lgformer.cli import main as cli
    from lgformer.config import build_config
    from lgformer.model import build_lgformer
    from lgformer.parity import fill_formula_weights

    pth, folder = workdir / "released.pth", workdir / "folder"
    if not pth.is_file():
        model = build_lgformer(build_config(preset)).eval()
        fill_formula_weights(model)
        torch.save({"model": model.state_dict()}, pth)
        del model
    started = time.perf_counter()
    if not folder.is_dir():
        if cli(["convert", str(pth), str(folder)]) != 0:
            raise SystemExit("convert failed")
    return pth, folder, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="swin_base_w12")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_folder_"))
    workdir.mkdir(parents=True, exist_ok=True)
    pth, folder, convert_s = make_files(workdir, args.preset)
    sizes = {
        ".pth": pth.stat().st_size,
        "folder": sum(p.stat().st_size for p in folder.iterdir()),
    }
    results: dict[str, list[dict]] = {".pth": [], "folder": []}
    for _ in range(args.rounds):
        for name, path in ((".pth", pth), ("folder", folder)):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
    print(f"preset {args.preset}; convert took {convert_s:.1f}s; {args.rounds} rounds, medians")
    print(f"{'format':<8} {'size MiB':>9} {'read s':>8} {'load_model s':>13} {'peak MiB':>9}")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{name:<8} {sizes[name] / 2**20:9.0f} {med['read_s']:8.2f} {med['load_s']:13.2f} "
            f"{med['peak_mib']:9.0f}"
        )


if __name__ == "__main__":
    main()
