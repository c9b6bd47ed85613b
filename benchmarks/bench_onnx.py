"""ONNX export of a preset (default: the released swin_base_w12 at 480x480, formula
weights) and onnxruntime vs PyTorch: export time, errors against float64, latency.

    python benchmarks/bench_onnx.py                          # released preset, 480x480
    python benchmarks/bench_onnx.py --preset test_tiny --size 64 --runs 3

Steps: build the preset with the parity formula weights (``lgformer.parity``); export
it with ``export_onnx`` (timed); run two sentences of different lengths on a rendered
scene through onnxruntime (CPU provider), PyTorch eager float32 and PyTorch float64;
print the relative errors ``||x - ref64|| / ||ref64||`` of the final logits and the
pixels whose sign differs; then time batch-1 forward passes, onnxruntime and eager
alternating (ORT, eager, ORT, ...) after one warm-up each, with the same thread count,
and print the medians. Exits 1 if onnxruntime's error exceeds ``--max-error`` (3e-4).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _rel(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(x.astype(np.float64) - ref) / np.linalg.norm(ref))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="swin_base_w12")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per runtime")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both")
    parser.add_argument("--max-error", type=float, default=3e-4)
    parser.add_argument("--out", type=Path, default=None, help="keep the .onnx file here")
    args = parser.parse_args()

    import onnxruntime as ort

    from lgformer.config import build_config
    from lgformer.data.synthetic import render_scene
    from lgformer.data.transforms import image_to_input
    from lgformer.export.onnx_export import export_onnx
    from lgformer.model import build_lgformer
    from lgformer.model_info import ModelInfo
    from lgformer.parity import fill_formula_weights
    from lgformer.tokenizer import SentenceTokenizer

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    model = build_lgformer(build_config(args.preset)).eval()
    fill_formula_weights(model)
    model.model_info = ModelInfo(image_size=args.size, origin="formula weights")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_onnx_")) / f"{args.preset}.onnx"
    started = time.perf_counter()
    export_onnx(model, out, image_size=args.size, opset=args.opset)
    export_s = time.perf_counter() - started
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}, {threads} threads")  # fmt: skip
    print(f"preset {args.preset} at {args.size}x{args.size}, opset {args.opset}: export "
          f"{export_s:.1f}s, {out.stat().st_size / 2**20:.0f} MiB")  # fmt: skip

    rgb, _, _ = render_scene(0)
    sentences = ["the big red circle on the left", "a small blue square"]
    ids, mask = SentenceTokenizer(max_words=model.config.max_words)(sentences)
    image = image_to_input(rgb, args.size).unsqueeze(0).expand(len(sentences), -1, -1, -1)
    image = image.contiguous()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])

    def run_ort(b: int) -> np.ndarray:
        feed = {"image": image[:b].numpy(), "token_ids": ids[:b].numpy(),
                "attention_mask": mask[:b].numpy()}  # fmt: skip
        return session.run(["pred_logits"], feed)[0]

    def run_eager(b: int) -> np.ndarray:
        with torch.no_grad():
            return model(image[:b], ids[:b], mask[:b]).pred_logits.numpy()

    got_ort, got_eager = run_ort(len(sentences)), run_eager(len(sentences))
    with torch.no_grad():
        ref = model.double()(image.double(), ids, mask).pred_logits.numpy()
    model.float()
    signs = float(((got_ort > 0) != (ref > 0)).mean())
    err_ort, err_eager = _rel(got_ort, ref), _rel(got_eager, ref)
    err_pair = _rel(got_ort, got_eager.astype(np.float64))
    print(f"relative error vs float64 PyTorch: onnxruntime {err_ort:.2e}, eager float32 "
          f"{err_eager:.2e}; onnxruntime vs eager {err_pair:.2e}; "
          f"mask pixels flipped by onnxruntime {signs * 100:.4f}%")  # fmt: skip

    times: dict[str, list[float]] = {"onnxruntime": [], "eager": []}
    runners = {"onnxruntime": run_ort, "eager": run_eager}
    for name in runners:
        runners[name](1)  # warm-up
    for _ in range(args.runs):
        for name, run in runners.items():
            started = time.perf_counter()
            run(1)
            times[name].append(time.perf_counter() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"batch-1 latency, median of {args.runs} (alternating): onnxruntime "
          f"{med['onnxruntime']:.3f}s, eager {med['eager']:.3f}s, ratio ORT/eager "
          f"{med['onnxruntime'] / med['eager']:.2f}")  # fmt: skip
    if err_ort > args.max_error:
        print(f"FAIL: onnxruntime error {err_ort:.2e} > {args.max_error:.0e}")
        return 1
    print(f"PASS: onnxruntime error {err_ort:.2e} <= {args.max_error:.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
