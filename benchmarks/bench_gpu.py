"""GPU speed and memory of an LGFormer preset: inference, a training step, deformable attention.

    bash benchmarks/gpu.sh                                # released preset, 480x480, one GPU
    python benchmarks/bench_gpu.py --device cpu --tiny    # dry run (the test suite runs it)

Prints, in this order (cheapest first, so a tight ``--budget-s`` keeps the most):

1. inference, eager: median latency and images/s at each batch size in fp32, tf32,
   bf16 and fp16 (autocast over fp32 weights; the pixel decoder keeps fp32 by design),
   with the peak memory;
2. a training step (forward, the released deep-supervision loss, backward, AdamW) at
   ``--train-batch``: median step time and peak memory in fp16 + GradScaler and in
   bf16, each without and with gradient checkpointing;
3. the pure-PyTorch multi-scale deformable attention vs ``torch.compile`` of it, at
   the pixel decoder's shapes for ``--train-batch`` images (forward in fp32 and bf16,
   forward + backward in fp32), with the largest difference between the two;
4. inference under ``torch.compile`` (default mode) in bf16, fp16 and fp32, with the
   time of the first calls (the compiles) of each: first ``blocks`` (the repeated layers
   compiled one by one - Swin blocks, BERT layers, decoder layers - so that one compile
   serves every layer of a kind: PyTorch's "regional compilation", minutes less to
   compile), then ``model`` (the whole model in one graph), bf16 first, as the budget
   allows. Batch 1 gets its own graph; the other batch sizes share one.

fp32 is PyTorch's default: float32 matrix products without TF32 (cuDNN convolutions
may use TF32); the tf32 row allows TF32 matrix products. Weights are random: speed
does not depend on them. Any measurement that would start after ``--budget-s``
seconds is printed as skipped, and one that fails prints its error and the run
goes on, so one run always reports everything it could.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import math
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import nn

from lgformer.config import RELEASED_PRESET, build_config
from lgformer.engine.loss import deep_supervision_loss
from lgformer.model import LGFormer, build_lgformer
from lgformer.ops import multi_scale_deformable_attention

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
          "fp16": torch.float16}  # fmt: skip
WORDS = 20  # word slots of the released tokenizer
REAL_WORDS = 8  # words of a typical RefCOCO sentence ([CLS] ... [SEP])


class Settings(NamedTuple):
    """What one run measures (``--tiny`` shrinks every size for a dry run)."""

    preset: str
    size: int
    batch_sizes: tuple[int, ...]
    train_batch: int
    runs: int
    warmup: int
    compile_backend: str
    compile_scopes: tuple[str, ...] = ("blocks", "model")
    compile_dtypes: tuple[str, ...] = ("bf16", "fp16", "fp32")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--preset", default=RELEASED_PRESET)
    parser.add_argument("--size", type=int, default=480, help="square input side")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10, help="timed repetitions per figure")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repetitions first")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=400.0,
        help="start no measurement after this many seconds (gpu.sh stays under 8 minutes)",
    )
    parser.add_argument(
        "--sections",
        default="eager,train,deform,compile",
        help="comma-separated subset of eager, train, deform, compile",
    )
    parser.add_argument(
        "--compile-backend", default="inductor", help="torch.compile backend (default inductor)"
    )
    parser.add_argument(
        "--compile-scopes",
        default="blocks,model",
        help="what torch.compile compiles, in order: blocks (each repeated layer), model",
    )
    parser.add_argument("--compile-dtypes", default="bf16,fp16,fp32")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="dry run: test_tiny preset, 64x64, batches 1 and 2, one repetition each",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    scopes = tuple(args.compile_scopes.split(","))
    dtypes = tuple(args.compile_dtypes.split(","))
    bad = [x for x in scopes if x not in ("blocks", "model")]
    bad += [x for x in dtypes if x not in DTYPES]
    if bad:
        raise SystemExit(f"error: unknown --compile-scopes/--compile-dtypes {bad}")
    compile_args = (args.compile_backend, scopes, dtypes)
    if args.tiny:
        return Settings("test_tiny", 64, (1, 2), 2, 1, 0, *compile_args)
    return Settings(
        args.preset,
        args.size,
        tuple(args.batch_sizes),
        args.train_batch,
        args.runs,
        args.warmup,
        *compile_args,
    )


class Budget:
    """Seconds since the start, and whether a step expected to take ``cost`` still fits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, cost: float = 0.0) -> bool:
        return self.elapsed + cost <= self.seconds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_text(device: torch.device) -> str:
    if device.type != "cuda":
        return "peak n/a on cpu"
    return f"peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"


def timed(fn: Callable[[], object], device: torch.device, runs: int, warmup: int) -> list[float]:
    """Seconds of each of ``runs`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float], batch: int) -> str:
    med = statistics.median(times)
    return (
        f"{med * 1e3:9.2f} ms (median of {len(times)}, min {min(times) * 1e3:.2f})  "
        f"{batch / med:8.2f} images/s"
    )


@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """Autocast for bf16/fp16; TF32 matrix products for tf32; nothing for fp32."""
    if name == "tf32":
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    elif name == "fp32":
        yield
    else:
        with torch.autocast(device.type, dtype=DTYPES[name]):
            yield


def model_inputs(batch: int, size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """image (B, 3, S, S), token_ids and attention_mask (B, 20) with 8 real words."""
    gen = torch.Generator().manual_seed(batch)
    image = torch.randn(batch, 3, size, size, generator=gen)
    mask = torch.zeros(batch, WORDS, dtype=torch.long)
    mask[:, :REAL_WORDS] = 1
    ids = torch.randint(1000, 2000, (batch, WORDS), generator=gen) * mask
    return image.to(device), ids.to(device), mask.to(device)


def skipped(what: str, why: str) -> None:
    print(f"{what}: skipped ({why})")


def failed(what: str, err: Exception) -> None:
    first_line = (str(err).splitlines() or [""])[0][:300]
    print(f"{what}: error: {type(err).__name__}: {first_line}", flush=True)


def bench_inference(
    forward: Callable[..., object],
    mode: str,
    dtype: str,
    s: Settings,
    device: torch.device,
    budget: Budget,
) -> float:
    """One line per batch size; returns the seconds of the first calls (the compiles)."""
    first_calls = 0.0
    for batch in s.batch_sizes:
        what = f"inference {mode:7s} {dtype} batch {batch:3d}"
        if not budget.allows():
            skipped(what, f"budget of {budget.seconds:.0f}s reached")
            continue
        call = functools.partial(forward, *model_inputs(batch, s.size, device))
        try:
            reset_peak(device)
            with torch.inference_mode(), precision(dtype, device):
                sync(device)
                start = time.perf_counter()
                call()  # compiles here for torch.compile
                sync(device)
                first_calls += time.perf_counter() - start
                times = timed(call, device, s.runs, s.warmup)
            print(f"{what}: {summary(times, batch)}  {peak_text(device)}", flush=True)
        except Exception as err:  # noqa: BLE001 - report and go on with the next figure
            failed(what, err)
        finally:
            call = None  # the inputs' memory goes before the next peak is measured
            reset_peak(device)
    return first_calls


def bench_train(
    model: LGFormer, dtype: str, checkpointing: bool, s: Settings, device: torch.device
) -> str:
    """One training step per call: forward, deep-supervision loss, backward, AdamW step."""
    model.train()
    model.set_grad_checkpointing(checkpointing)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, foreach=True)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == "fp16")
    image, ids, mask = model_inputs(s.train_batch, s.size, device)
    target = (torch.rand(s.train_batch, s.size, s.size, device=device) > 0.7).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision(dtype, device):
            logits = model(image, ids, mask).mask_logits
        loss = deep_supervision_loss(logits, target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    try:
        reset_peak(device)
        step()  # the optimizer's state is allocated here: counted in the peak
        times = timed(step, device, s.runs, max(s.warmup - 1, 0))
        return f"{summary(times, s.train_batch)}  {peak_text(device)}"
    finally:
        model.set_grad_checkpointing(False)
        optimizer.state.clear()
        model.zero_grad(set_to_none=True)
        model.eval()
        reset_peak(device)


def deform_inputs(
    model: LGFormer, batch: int, size: int, device: torch.device
) -> tuple[torch.Tensor, list[tuple[int, int]], torch.Tensor, torch.Tensor]:
    """Random inputs of the pixel decoder's deformable attention for ``batch`` images:
    value (B, S, M, D), the three levels (strides 32, 16, 8), locations (B, S, M, 3, P, 2)
    in [0, 1] and softmax weights (B, S, M, 3, P); every pixel of every level is a query."""
    dec = model.config.decoder
    heads, points, dim = dec.num_heads, dec.deform_points, dec.hidden_dim // dec.num_heads
    patch = model.config.swin.patch_size
    shapes = []
    for stride in (8, 4, 2):  # the stage-4, 3, 2 maps at the patch stride times 8, 4, 2
        side = math.ceil(size / patch)
        for _ in range(int(math.log2(stride))):
            side = math.ceil(side / 2)
        shapes.append((side, side))
    total = sum(h * w for h, w in shapes)
    gen = torch.Generator().manual_seed(0)
    value = torch.randn(batch, total, heads, dim, generator=gen)
    locations = torch.rand(batch, total, heads, len(shapes), points, 2, generator=gen)
    weights = torch.randn(batch, total, heads, len(shapes), points, generator=gen)
    weights = weights.flatten(-2).softmax(-1).view_as(weights)
    return value.to(device), shapes, locations.to(device), weights.to(device)


def deform_call(fn: Callable, inputs: tuple, backward: bool) -> torch.Tensor:
    """``fn(*inputs)``, then the backward pass of a scalar of it when ``backward``."""
    with torch.inference_mode(not backward):
        out = fn(*inputs)
    if backward:
        out.float().square().mean().backward()
    return out


def bench_deform(model: LGFormer, s: Settings, device: torch.device, budget: Budget) -> None:
    value, shapes, locations, weights = deform_inputs(model, s.train_batch, s.size, device)
    queries = value.shape[1]
    print(
        f"deformable attention: batch {s.train_batch}, levels {shapes}, {queries} queries, "
        f"value {tuple(value.shape)}, {locations.shape[-2]} points"
    )
    eager = multi_scale_deformable_attention
    compiled = torch.compile(eager, backend=s.compile_backend, dynamic=False)
    for dtype, backward in (("fp32", False), ("bf16", False), ("fp32", True)):
        cast = DTYPES[dtype]
        v, loc, w = (t.to(cast).requires_grad_(backward) for t in (value, locations, weights))
        kind = "forward+backward" if backward else "forward"
        results = {}
        for name, fn in (("pure PyTorch", eager), ("torch.compile", compiled)):
            what = f"deformable attention {dtype} {kind:16s} {name:13s}"
            if not budget.allows():
                skipped(what, f"budget of {budget.seconds:.0f}s reached")
                continue

            call = functools.partial(deform_call, fn, (v, shapes, loc, w), backward)
            try:
                sync(device)
                start = time.perf_counter()
                results[name] = call().detach().float()
                sync(device)
                first = time.perf_counter() - start
                times = timed(call, device, s.runs, s.warmup)
                extra = f"  (first call {first:.1f}s)" if name == "torch.compile" else ""
                print(f"{what}: {summary(times, s.train_batch)}{extra}", flush=True)
            except Exception as err:  # noqa: BLE001 - report and go on
                failed(what, err)
        if len(results) == 2:
            diff = (results["pure PyTorch"] - results["torch.compile"]).abs().max().item()
            print(f"deformable attention {dtype} {kind}: max |eager - compiled| = {diff:.2e}")


def compile_repeated_layers(model: nn.Module, backend: str) -> int:
    """Compile, in place, every layer of every ``nn.ModuleList`` of identical layers that
    hold no list themselves (Swin blocks, BERT layers, decoder layers); returns how many.

    Dynamo treats a layer's parameters as inputs, so one compiled graph serves all the
    layers of one kind and shape.
    """
    count = 0
    for module in list(model.modules()):
        if not isinstance(module, nn.ModuleList) or len(module) < 2:
            continue
        if len({type(layer) for layer in module}) != 1:
            continue
        if any(isinstance(sub, nn.ModuleList) for layer in module for sub in layer.modules()):
            continue
        for layer in module:
            layer.compile(backend=backend)
            count += 1
    return count


def bench_compiled(model: LGFormer, s: Settings, device: torch.device, budget: Budget) -> None:
    """Compiled inference per scope and dtype (``compile_plan`` order); batch 1 is
    specialised, the other batch sizes share a dynamic-batch graph. The longest compile
    so far predicts whether the next one fits in the budget."""
    # Every layer shape, shift, dtype and batch may need its own graph.
    with torch._dynamo.config.patch(recompile_limit=256, accumulated_recompile_limit=4096):
        _bench_compiled(model, s, device, budget)
    torch._dynamo.reset()


def compile_plan(scopes: tuple[str, ...], dtypes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(scope, dtype) pairs, most wanted first: every scope in the first dtype, then the
    other dtypes scope by scope (bf16 blocks, bf16 model, fp16 blocks, fp32 blocks, ...)."""
    first = [(scope, dtypes[0]) for scope in scopes]
    return first + [(scope, dtype) for scope in scopes for dtype in dtypes[1:]]


def _bench_compiled(model: LGFormer, s: Settings, device: torch.device, budget: Budget) -> None:
    expected = 0.0
    for scope, dtype in compile_plan(s.compile_scopes, s.compile_dtypes):
        what = f"inference compile ({scope}) {dtype}"
        if not budget.allows(expected):
            skipped(what, f"its compiles ({expected:.0f}s expected) would pass the budget")
            continue
        torch._dynamo.reset()
        if scope == "model":
            forward = torch.compile(model, backend=s.compile_backend)
            note = "the whole model"
        else:
            forward = copy.deepcopy(model)
            note = f"{compile_repeated_layers(forward, s.compile_backend)} layers"
        mode = "compile" if scope == "model" else "blocks"
        seconds = bench_inference(forward, mode, dtype, s, device, budget)
        print(f"{what}: {note}, first calls (the compiles) {seconds:.1f}s", flush=True)
        expected = max(expected, seconds)
        forward = None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    s = settings_from(args)
    device = torch.device(args.device)
    sections = set(args.sections.split(","))
    unknown = sections - {"eager", "train", "deform", "compile"}
    if unknown:
        raise SystemExit(f"error: unknown --sections {sorted(unknown)}")
    budget = Budget(args.budget_s)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_lgformer(build_config(s.preset)).to(device).eval()
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(
        f"preset {s.preset} ({n_params:.1f}M parameters, random weights), {s.size}x{s.size}, "
        f"{WORDS} word slots ({REAL_WORDS} real); device {device} ({name}); "
        f"torch {torch.__version__}; budget {budget.seconds:.0f}s"
    )
    if device.type == "cpu":
        print(f"cpu threads {torch.get_num_threads()}")
    # The released recipe trains with BERT's embeddings frozen (spec section 8).
    for p in model.text_encoder.embeddings.parameters():
        p.requires_grad_(False)

    if "eager" in sections:
        for dtype in ("fp32", "tf32", "bf16", "fp16"):
            bench_inference(model, "eager", dtype, s, device, budget)
    if "train" in sections:
        for dtype in ("fp16", "bf16"):
            for ckpt in (False, True):
                what = (
                    f"train step {dtype}{' + GradScaler' if dtype == 'fp16' else ''}, "
                    f"batch {s.train_batch}, checkpointing {'on ' if ckpt else 'off'}"
                )
                if not budget.allows():
                    skipped(what, f"budget of {budget.seconds:.0f}s reached")
                    continue
                try:
                    print(f"{what}: {bench_train(model, dtype, ckpt, s, device)}", flush=True)
                except Exception as err:  # noqa: BLE001 - report and go on
                    failed(what, err)
    if "deform" in sections:
        bench_deform(model, s, device, budget)
    if "compile" in sections:
        bench_compiled(model, s, device, budget)
    print(f"total {budget.elapsed:.0f}s")


if __name__ == "__main__":
    main()
