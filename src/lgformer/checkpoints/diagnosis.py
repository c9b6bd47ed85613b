"""Turns a key mismatch, or a file torch cannot read, into an error message that says what
it likely means."""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

from lgformer.checkpoints.state_dict import KeyReport
from lgformer.config import SWIN_SIZES

_SHOWN = 12


def _listing(title: str, items: list[str]) -> str:
    more = f"\n    ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"  {title} ({len(items)}):\n    " + "\n    ".join(items[:_SHOWN]) + more


def explain_mismatch(report: KeyReport, source: str) -> str:
    """A multi-line message naming the mismatched keys, with likely causes."""
    parts = [f"checkpoint {source} does not fit the model:"]
    if report.missing:
        parts.append(_listing("missing from the checkpoint", report.missing))
    if report.unexpected:
        parts.append(_listing("unexpected in the checkpoint", report.unexpected))
    if report.wrong_shape:
        parts.append(
            _listing(
                "wrong shape (checkpoint vs model)",
                [f"{k}: {a} vs {b}" for k, a, b in report.wrong_shape],
            )
        )
    hints = likely_causes(report)
    if hints:
        parts.append("  likely cause:\n    " + "\n    ".join(hints))
    return "\n".join(parts)


def likely_causes(report: KeyReport) -> list[str]:
    hints = []
    # Hints read shapes; a value that is not a tensor (or a 0-d one) has none to read.
    shaped = [(k, g, e) for k, g, e in report.wrong_shape if isinstance(g, tuple) and g and e]
    for key, given, expected in shaped:
        if key.endswith("relative_position_bias_table"):
            w_ckpt = (math.isqrt(given[0]) + 1) // 2
            w_model = (math.isqrt(expected[0]) + 1) // 2
            hints.append(
                f"window size: the checkpoint uses window {w_ckpt}, the model window {w_model} "
                f"(released LGFormer checkpoints use 12: preset swin_base_w12)"
            )
            break
    for key, given, expected in shaped:
        if key == "backbone.patch_embed.proj.weight":
            sizes = [n for n, (c, _, _) in SWIN_SIZES.items() if c == given[0]]
            hints.append(
                f"Swin width: the checkpoint has embed_dim {given[0]} ({'/'.join(sizes) or '?'}), "
                f"the model {expected[0]}"
            )
        if key == "text_encoder.embeddings.word_embeddings.weight":
            hints.append(
                f"text encoder: the checkpoint's BERT has vocab x width {given}, the model "
                f"{expected}"
            )
    depth = _block_depth_hint(report)
    if depth:
        hints.append(depth)
    if report.unexpected and all(
        not k.startswith(("backbone.", "classifier.", "text_encoder."))
        for k in report.unexpected[:50]
    ):
        if any(k.startswith(("patch_embed.", "layers.")) for k in report.unexpected):
            hints.append(
                "this looks like a Swin ImageNet checkpoint, not an LGFormer one: use it to "
                "initialise training (the training config's backbone weights)"
            )
        elif any(k.startswith(("embeddings.", "encoder.layer.")) for k in report.unexpected):
            hints.append("this looks like a BERT checkpoint, not an LGFormer one")
    if not hints and report.missing and not report.unexpected:
        hints.append("the checkpoint is incomplete (truncated or filtered)")
    return hints


def _block_depth_hint(report: KeyReport) -> str | None:
    pattern = re.compile(r"backbone\.layers\.(\d+)\.blocks\.(\d+)\.")
    missing = {m.groups() for k in report.missing if (m := pattern.match(k))}
    extra = {m.groups() for k in report.unexpected if (m := pattern.match(k))}
    if not (missing or extra):
        return None
    stage = sorted(missing | extra)[0][0]
    return (
        f"Swin depth: stage {stage} has a different number of blocks (e.g. Swin-T has 6 "
        "blocks in stage 2, Swin-S/B/L 18)"
    )


def unreadable_checkpoint_message(path: Path, err: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed with ``err``, and what to do, on one
    line (torch's own messages run for lines about miniz and ``weights_only``)."""
    text = str(err)
    with open(path, "rb") as f:
        head = f.read(4)
    # torch's weights-only unpickler refuses every global beyond tensors (classes, functions
    # such as os.system) with this type; its wording changes between versions. A pickle of
    # any protocol starts with 0x80.
    if head.startswith((b"PK\x03\x04", b"\x80")) and isinstance(err, pickle.UnpicklingError):
        return (
            f"cannot read checkpoint {path}: this file holds code or objects that are not "
            "tensors; it was not loaded (if you trust its source, save its state dict of "
            "tensors alone with torch.save)"
        )
    # torch.save writes a zip archive ("PK\x03\x04"), or a pickle (protocol 2) before 1.6.
    if head.startswith((b"PK\x03\x04", b"\x80\x02")) or any(
        sign in text for sign in ("zip archive", "EOF", "truncated", "corrupt")
    ):
        return (
            f"cannot read checkpoint {path}: the file is truncated or corrupt; "
            "download or copy it again"
        )
    if path.stat().st_size == 0:
        return f"checkpoint {path} is empty (0 bytes): download or copy it again"
    return (
        f"cannot read checkpoint {path}: it is not a PyTorch checkpoint (torch.save) or a "
        "safetensors file; give an LGFormer .pth/.pt or .safetensors file"
    )
