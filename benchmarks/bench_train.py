r"""Training step time and peak memory of an LGFormer preset (the real ``Trainer.train_step``).

    # CPU, the synthetic benchmark's model
    python benchmarks/bench_train.py --preset synthetic_small --size 160 --batch 8 --threads 2
    # the bundled recipe, eager vs torch.compile (one thread)
    python benchmarks/bench_train.py --config synthetic_bundled --size 128 \
        --batch 16 --threads 1 --steps 6
    python benchmarks/bench_train.py --config synthetic_bundled --size 128 \
        --batch 16 --threads 1 --steps 6 --compile
    # CPU: glibc's malloc as it is vs retaining freed memory (what lgformer train does)
    python benchmarks/bench_train.py --config synthetic_bundled --size 128 \
        --batch 16 --threads 1 --steps 12 --precision bf16 [--default-malloc]
    python benchmarks/bench_train.py --config synthetic_bundled --size 128 \
        --batch 16 --threads 1 --steps 8 --precision bf16 [--warm-start]
    # GPU, the released config: fp16 and bf16, with and without gradient checkpointing
    python benchmarks/bench_train.py --device cuda --preset swin_base_w12 --size 480 --batch 8 \
        --precision fp16 bf16 --checkpointing off on

Each combination builds a fresh model and optimizer, runs ``--warmup`` untimed
steps (optimizer states get allocated there) and ``--steps`` timed ones on one
random batch, and prints the median and min step time, images per second and
peak memory. It times the referring steps; ``--warm-start`` times a config's
vision-only category warm-start steps instead. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` over the timed steps
(weights, gradients, AdamW states and activations), on CPU the process's peak
resident set size during the timed steps (VmHWM after a reset through
``/proc/self/clear_refs``; where that is unavailable, ``resource.getrusage``'s
peak since the process started). Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import statistics
import time
import warnings
from types import SimpleNamespace

import torch

from lgformer.distributed import ProcessInfo
from lgformer.engine.config import load_train_config
from lgformer.engine.run import retain_freed_memory
from lgformer.engine.trainer import Trainer
from lgformer.model import build_lgformer

CATEGORY_LABELS = 6  # background + the synthetic benchmark's five shapes


class _RandomBatches(torch.utils.data.Dataset):
    """Enough random samples for one epoch of ``n`` samples (only its length is used);
    ``categories`` as a REFER training set has it (the category loss's label count)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.categories = SimpleNamespace(num_labels=CATEGORY_LABELS)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        raise NotImplementedError


def random_batch(batch: int, size: int, words: int, device: torch.device) -> dict:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (batch, words), generator=gen)
    mask = torch.zeros(batch, words, dtype=torch.long)
    mask[:, :8] = 1  # an 8-id sentence
    target = torch.zeros(batch, size, size)
    target[:, size // 4 : size // 2, size // 3 : size // 2 + size // 4] = 1.0
    return {
        "image": torch.randn(batch, 3, size, size, generator=gen).to(device),  # (B, 3, S, S)
        "token_ids": (ids * mask).to(device),  # (B, L)
        "attention_mask": mask.to(device),  # (B, L)
        "target": target.to(device),  # (B, S, S)
        "categories": target.long().to(device),  # (B, S, S): the object is category 1
    }


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); elsewhere the peak is since start."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_rss_bytes() -> int:
    """Peak resident set size since ``reset_peak_rss`` (VmHWM), else since process start."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def bench_one(args: argparse.Namespace, precision: str, checkpointing: bool) -> str:
    device = torch.device(args.device)
    preset = args.preset or (None if args.config else "synthetic_small")
    preset_override = [f"model.preset={preset}"] if preset else []
    cfg = load_train_config(
        args.config,
        preset_override
        + [
            f"model.grad_checkpointing={str(checkpointing).lower()}",
            f"optim.precision={precision}",
            f"optim.batch_size={args.batch}",
            f"device={device.type}",
            "output.dir=/tmp/lgformer_bench_train",
            "output.tensorboard=false",
            "output.progress=false",
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)  # same weights in every combination: the losses must agree
        model = build_lgformer(cfg.model.build())
        trainer = Trainer(
            cfg,
            model,
            # Long enough that the schedule has steps after a config's warm start.
            _RandomBatches(args.batch * (cfg.objective.category_warmup_steps + 1)),
            None,
            info=ProcessInfo(),
            device=device,
        )
    trainer.logger.close()
    # Time the referring steps unless asked for the vision-only warm-start ones.
    trainer.position.step = 0 if args.warm_start else cfg.objective.category_warmup_steps
    if args.warm_start and not cfg.objective.category_warmup_steps:
        raise SystemExit("--warm-start needs a config with objective.category_warmup_steps > 0")
    if args.compile:
        trainer.train_model = torch.compile(trainer.train_model)
    batch = random_batch(args.batch, args.size, args.words or model.config.max_words, device)
    times = []
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            else:
                reset_peak_rss()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = trainer.train_step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i == 0:
            first = time.perf_counter() - start  # includes compilation with --compile
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        memory = f"peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated"
    else:
        memory = f"peak RSS {peak_rss_bytes() / 2**30:.2f} GiB"
    median = statistics.median(times)
    line = (
        f"{args.config or cfg.model.preset} batch {args.batch} {args.size}x{args.size} "
        f"{trainer.precision.name} grad-ckpt {'on ' if checkpointing else 'off'}"
        f"{' compiled' if args.compile else ''}{' warm-start' if args.warm_start else ''}"
        ": "
        f"first step {first:.1f} s, "
        f"step {median * 1000:.0f} ms "
        f"(median of {len(times)}, min {min(times) * 1000:.0f}), "
        f"{args.batch / median:.1f} img/s, {memory}, last loss {loss:.3f}"
    )
    del trainer, model, batch
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default=None, help="a training YAML to start from (default: the defaults)"
    )
    parser.add_argument(
        "--preset", default=None, help="model preset (default: synthetic_small, or the config's)"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16"]
    )
    parser.add_argument("--checkpointing", nargs="+", default=["off"], choices=["off", "on"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--warm-start", action="store_true", help="time the vision-only warm-start steps"
    )
    parser.add_argument(
        "--words",
        type=int,
        default=None,
        help="id slots per sentence (default: the model's max_words); 8 are real words",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="on CPU, leave glibc's malloc as it is (lgformer train retains freed memory)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    retained = device.type == "cpu" and not args.default_malloc and retain_freed_memory()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({name or platform.machine()}), threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}{', freed memory retained' if retained else ''}"
    )
    for precision in args.precision:
        for ckpt in args.checkpointing:
            print(bench_one(args, precision, ckpt == "on"), flush=True)


if __name__ == "__main__":
    main()
