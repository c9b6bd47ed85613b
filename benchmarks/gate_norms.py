r"""How wide a model's language gates are, against a reference model.

    python benchmarks/gate_norms.py --reference src/lgformer/weights/synthetic_small.safetensors \
        runs/a/best.pt runs/b/best.pt [--stages 0 1 2] [--output gates.json]

The gates (``backbone.layers.<s>.res_gate`` and ``sym_res_gate``, spec section 3) scale
the updates that carry the words into the next stage's Swin tokens. For each checkpoint
this prints the Frobenius norm of every gate weight divided by the reference's, and their
mean over the chosen stages (stage 3's gates get no gradient and stay at their init).
Any checkpoint ``lgformer.checkpoints.read_checkpoint`` reads works (training .pt,
released .pth, .safetensors).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from lgformer.checkpoints.io import read_checkpoint

GATE_WEIGHT = re.compile(r"^backbone\.layers\.(\d+)\.(sym_)?res_gate\.\d+\.weight$")


def gate_weights(state: dict[str, torch.Tensor], stages: Sequence[int]) -> dict[str, float]:
    """{key: Frobenius norm} of the gate weights of ``stages`` in a state dict."""
    out = {}
    for key, value in state.items():
        match = GATE_WEIGHT.match(key)
        if match and int(match.group(1)) in stages:
            out[key] = float(value.float().norm())
    return out


def gate_norm_ratios(
    state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], stages: Sequence[int]
) -> dict[str, float]:
    """{key: norm in ``state`` / norm in ``reference``} plus ``"mean"`` over the keys."""
    ours, theirs = gate_weights(state, stages), gate_weights(reference, stages)
    if not theirs or ours.keys() != theirs.keys():
        raise ValueError(
            f"gate weights differ: {sorted(ours.keys() ^ theirs.keys())[:4]} (or none found)"
        )
    closed = [key for key, norm in theirs.items() if norm == 0]
    if closed:
        raise ValueError(f"the reference's gate weights {closed[:2]} are all zeros")
    ratios = {key: ours[key] / theirs[key] for key in sorted(theirs)}
    ratios["mean"] = statistics.mean(ratios.values())
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--stages", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=None, help="write the ratios as JSON")
    args = parser.parse_args(argv)
    reference, _ = read_checkpoint(args.reference)
    table = {}
    for path in args.checkpoints:
        state, _ = read_checkpoint(path)
        table[str(path)] = gate_norm_ratios(state, reference, args.stages)
        print(f"{path}: mean gate-norm ratio {table[str(path)]['mean']:.2f}")
    if args.output:
        args.output.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
