"""Parameter count and forward latency of an LGFormer preset.

    python benchmarks/bench_model.py                         # released preset, CPU, 480x480
    python benchmarks/bench_model.py --device cuda --dtype bfloat16 --batch-sizes 1 8 32

Prints one line per batch size: median and min latency over --runs timed runs
after --warmup untimed ones (random weights: speed does not depend on them).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lgformer.config import RELEASED_PRESET, build_config
from lgformer.model import build_lgformer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=RELEASED_PRESET)
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    model = build_lgformer(build_config(args.preset)).eval().to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"preset {args.preset}: {n_params:,} parameters ({n_params / 1e6:.1f} M)")
    print(
        f"device {device}, dtype {args.dtype}, threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}"
    )
    autocast = args.dtype != "float32"
    amp_dtype = getattr(torch, args.dtype)
    for batch in args.batch_sizes:
        image = torch.randn(batch, 3, args.size, args.size, device=device)
        ids = torch.randint(1000, 2000, (batch, 20), device=device)
        mask = torch.zeros(batch, 20, dtype=torch.long, device=device)
        mask[:, :8] = 1
        times = []
        for i in range(args.warmup + args.runs):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.no_grad(), torch.autocast(device.type, amp_dtype, enabled=autocast):
                model(image, ids * mask, mask)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        med = statistics.median(times)
        print(
            f"{args.size}x{args.size} batch {batch}: median {med * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f} ms, {args.runs} runs), {batch / med:.2f} images/s"
        )


if __name__ == "__main__":
    main()
