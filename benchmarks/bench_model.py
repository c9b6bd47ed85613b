"""Parameter count and forward latency of an LGFormer preset, alone or against another checkout.

    python benchmarks/bench_model.py                         # released preset, CPU, 480x480
    python benchmarks/bench_model.py --device cuda --dtype bfloat16 --batch-sizes 1 8 32
    python benchmarks/bench_model.py --baseline-src ../baseline-123a273/src --threads 2 \\
        --batch-sizes 1 --runs 7                             # this checkout vs another, A B A B

Alone: one line per batch size, median and min latency over --runs timed runs
after --warmup untimed ones (random weights: speed does not depend on them).

With ``--baseline-src``: the model of that source tree (B) and of this one (A)
run in two worker processes with the same formula weights (the parity fixtures'
formula, by parameter name) and the same inputs, interleaved A B A B so both
see the same machine load. Prints both medians, the ratio A/B, and the largest
relative difference of the prediction logits (``max |A - B| / max |B|``).
``--keep-freed-memory`` makes glibc's malloc in both workers keep freed memory
(no mmap for large blocks, no trimming: ``keep_freed_memory``), so the large
activations of each forward reuse pages already touched instead of faulting in
fresh zeroed ones; both sides get it, so the ratio stays a code comparison.
``--precision`` adds the full-size tolerance rule: the float32 error of each
against A run in float64, ``||x - x64|| / ||x64||``, and their ratio A/B, which
should stay <= ~1.5 (a fixed 1e-4 does not hold at full size: the released code's
own float32 error there is ~1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

SRC = Path(__file__).resolve().parents[1] / "src"


def _inputs(batch: int, size: int, device: torch.device):
    g = torch.Generator().manual_seed(batch)
    image = torch.randn(batch, 3, size, size, generator=g).to(device)
    ids = torch.randint(1000, 2000, (batch, 20), generator=g).to(device)
    mask = torch.zeros(batch, 20, dtype=torch.long, device=device)
    mask[:, :8] = 1
    return image, ids * mask, mask


def _build(preset: str, device: torch.device, formula: bool) -> torch.nn.Module:
    from lgformer.config import build_config
    from lgformer.model import build_lgformer

    model = build_lgformer(build_config(preset)).eval()
    if formula:
        from lgformer.parity import fill_formula_weights

        fill_formula_weights(model)
    return model.to(device)


def _forward(model, inputs, device: torch.device, dtype: str) -> tuple[float, torch.Tensor]:
    """One timed forward -> (seconds, prediction logits)."""
    autocast = dtype != "float32"
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast(device.type, getattr(torch, dtype), enabled=autocast):
        logits = model(*inputs).pred_logits
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, logits


def run_alone(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    model = _build(args.preset, device, formula=False)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"preset {args.preset}: {n_params:,} parameters ({n_params / 1e6:.1f} M)")
    print(
        f"device {device}, dtype {args.dtype}, threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}"
    )
    for batch in args.batch_sizes:
        inputs = _inputs(batch, args.size, device)
        times = [_forward(model, inputs, device, args.dtype)[0] for _ in range(args.warmup)]
        times = [_forward(model, inputs, device, args.dtype)[0] for _ in range(args.runs)]
        med = statistics.median(times)
        print(
            f"{args.size}x{args.size} batch {batch}: median {med * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f} ms, {args.runs} runs), {batch / med:.2f} images/s"
        )


def keep_freed_memory() -> None:
    """glibc malloc: serve every block from the heap and never trim it (Linux only)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    if not (libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 31)):
        raise SystemExit("error: mallopt refused the settings")


def run_worker(args: argparse.Namespace) -> None:
    """Builds the model, then answers one line per stdin command: ``run B`` -> seconds;
    ``save B PATH`` -> saves that batch's prediction logits; ``quit``."""
    if args.keep_freed_memory:
        keep_freed_memory()
    device = torch.device(args.device)
    model = _build(args.preset, device, formula=True)
    import lgformer

    print(json.dumps({"ready": lgformer.__file__}), flush=True)
    inputs = {b: _inputs(b, args.size, device) for b in args.batch_sizes}
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            return
        if cmd[0] == "save64":  # the float64 truth for the precision check
            import copy

            image, ids, mask = inputs[int(cmd[1])]
            exact = copy.deepcopy(model).double()
            seconds, logits = _forward(exact, (image.double(), ids, mask), device, "float32")
            del exact
        else:
            seconds, logits = _forward(model, inputs[int(cmd[1])], device, args.dtype)
        if cmd[0] in ("save", "save64"):
            torch.save(logits.float().cpu(), cmd[2])
        print(json.dumps({"seconds": seconds}), flush=True)


class _Worker:
    def __init__(self, src: Path, args: argparse.Namespace) -> None:
        env = dict(os.environ, PYTHONPATH=str(src))
        cmd = [sys.executable, __file__, "--worker", "--preset", args.preset]
        cmd += ["--size", str(args.size), "--device", args.device, "--dtype", args.dtype]
        cmd += ["--batch-sizes", *map(str, args.batch_sizes)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.keep_freed_memory:
            cmd += ["--keep-freed-memory"]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.where = self._reply()["ready"]

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"error: benchmark worker exited with {self.proc.wait()}")
        return json.loads(line)

    def ask(self, command: str) -> float:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()["seconds"]

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.double(), ref.double()
    return float((x - ref).norm() / ref.norm())


def run_compare(args: argparse.Namespace) -> None:
    import tempfile

    ours = _Worker(SRC, args)
    base = _Worker(Path(args.baseline_src).resolve(), args)
    print(f"A = {ours.where}\nB = {base.where}")
    print(
        f"preset {args.preset}, {args.size}x{args.size}, {args.dtype}, device {args.device}, "
        f"threads {args.threads or torch.get_num_threads()}, torch {torch.__version__}, "
        f"formula weights, interleaved A B A B"
        + (", malloc keeps freed memory" if args.keep_freed_memory else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch_sizes:
            pa, pb = Path(tmp, "a.pt"), Path(tmp, "b.pt")
            ours.ask(f"save {batch} {pa}")
            base.ask(f"save {batch} {pb}")
            for _ in range(args.warmup - 1):
                ours.ask(f"run {batch}")
                base.ask(f"run {batch}")
            ta, tb = [], []
            for _ in range(args.runs):
                ta.append(ours.ask(f"run {batch}"))
                tb.append(base.ask(f"run {batch}"))
            la, lb = torch.load(pa), torch.load(pb)
            diff = float((la - lb).abs().max() / lb.abs().max())
            ma, mb = statistics.median(ta), statistics.median(tb)
            print(
                f"batch {batch}: A median {ma * 1000:.0f} ms {[round(t * 1000) for t in ta]}\n"
                f"         B median {mb * 1000:.0f} ms {[round(t * 1000) for t in tb]}\n"
                f"         ratio A/B {ma / mb:.3f}, max relative difference of the "
                f"prediction logits {diff:.2e}"
            )
            if args.precision:
                p64 = Path(tmp, "a64.pt")
                ours.ask(f"save64 {batch} {p64}")
                exact = torch.load(p64)
                ea, eb = _rel(la, exact), _rel(lb, exact)
                print(
                    f"         precision vs A in float64 (||x - x64|| / ||x64||): A {ea:.2e}, "
                    f"B {eb:.2e}, ratio {ea / eb:.2f} (the rule: <= 1.5)"
                )
    ours.close()
    base.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None, help="default: the released preset")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--baseline-src", default=None, help="src/ of another checkout to run interleaved (B)"
    )
    parser.add_argument(
        "--precision",
        action="store_true",
        help="with --baseline-src: also the float32 error of A and B against A in float64",
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc malloc in the workers keeps freed memory (see the module docstring)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.preset is None:
        from lgformer.config import RELEASED_PRESET

        args.preset = RELEASED_PRESET
    if args.worker:
        run_worker(args)
    elif args.baseline_src:
        run_compare(args)
    else:
        run_alone(args)


if __name__ == "__main__":
    main()
