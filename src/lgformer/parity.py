"""Parity against fixtures produced by the authors' released code.

A fixture is ``NAME.json`` (``config`` and the state-dict ``manifest``) plus
``NAME.safetensors`` (inputs, outputs and intermediates). Weights are not
stored: every parameter follows a formula of its key and shape
(``formula_weight``), so any model size can be checked.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lgformer.config import LGFormerConfig
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer, build_lgformer

TOLERANCE = 1e-4
INPUTS = ("input.image", "input.token_ids", "input.attention_mask")


def formula_weight(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fixture's deterministic weight for a parameter named ``key``."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    if len(shape) >= 2:
        w = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
    elif key.endswith("weight"):
        w = 1 + 0.1 * rng.standard_normal(shape)
    else:
        w = 0.02 * rng.standard_normal(shape)
    return w.astype(np.float32)


def fill_formula_weights(model: torch.nn.Module) -> None:
    """Overwrite every parameter (not buffer) with ``formula_weight``."""
    with torch.no_grad():
        for key, param in model.named_parameters():
            param.copy_(torch.from_numpy(formula_weight(key, tuple(param.shape))))


@dataclass
class ParityFixture:
    config: LGFormerConfig
    manifest: list[dict]
    tensors: dict[str, torch.Tensor]

    @classmethod
    def load(cls, json_path: str | Path) -> ParityFixture:
        """``NAME.json`` (or its ``NAME.safetensors`` sibling) -> the fixture.

        A missing, unreadable or incomplete fixture is an ``LGFormerError``.
        """
        json_path = Path(json_path)
        if json_path.suffix == ".safetensors":
            json_path = json_path.with_suffix(".json")
        tensors_path = json_path.with_suffix(".safetensors")
        for p in (json_path, tensors_path):
            if not p.is_file():
                raise LGFormerError(f"parity fixture file not found: {p}")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise LGFormerError(f"{json_path} is not a JSON file: {err}") from err
        if not isinstance(meta, dict) or "config" not in meta:
            raise LGFormerError(f"{json_path} has no 'config' entry: not a parity fixture")
        try:
            config = LGFormerConfig.from_parity_config(meta["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise LGFormerError(f"{json_path}: bad or incomplete 'config': {err!r}") from err
        return cls(
            config=config,
            manifest=_checked_manifest(meta, json_path),
            tensors=_load_tensors(tensors_path),
        )


def _checked_manifest(meta: dict, json_path: Path) -> list[dict]:
    """The fixture's ``manifest``: a list of ``{"key", "shape", "kind", ...}`` entries."""
    if "manifest" not in meta:
        raise LGFormerError(f"{json_path} has no 'manifest' entry: not a parity fixture")
    manifest = meta["manifest"]
    if not isinstance(manifest, list):
        raise LGFormerError(
            f"{json_path}: bad 'manifest': a list of entries expected, got "
            f"{type(manifest).__name__}"
        )
    for i, entry in enumerate(manifest):
        fields_ok = isinstance(entry, dict) and {"key", "shape", "kind"} <= entry.keys()
        if not fields_ok or not isinstance(entry["shape"], list):
            raise LGFormerError(
                f"{json_path}: bad 'manifest' entry {i} ({entry!r:.80}): each entry needs "
                "'key', 'shape' (a list) and 'kind'"
            )
    return manifest


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The fixture's safetensors file, which must hold the three ``input.*`` tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except SafetensorError as err:
        raise LGFormerError(f"{path} is not a safetensors file: {err}") from err
    missing = [k for k in INPUTS if k not in tensors]
    if missing:
        raise LGFormerError(f"{path} lacks the input tensor(s) {missing}")
    return tensors


def manifest_differences(model: torch.nn.Module, manifest: list[dict]) -> list[str]:
    """Human-readable differences between the model's parameters and a manifest."""
    ours = {k: tuple(p.shape) for k, p in model.named_parameters()}
    theirs = {e["key"]: tuple(e["shape"]) for e in manifest if e.get("kind") == "parameter"}
    problems = [f"missing in model: {k}" for k in theirs if k not in ours]
    problems += [f"not in manifest: {k}" for k in ours if k not in theirs]
    problems += [
        f"shape of {k}: model {ours[k]} vs manifest {theirs[k]}"
        for k in theirs
        if k in ours and ours[k] != theirs[k]
    ]
    return problems


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """||ours - ref|| / ||ref|| in float64."""
    ours, ref = ours.double(), ref.double()
    return float((ours - ref).norm() / ref.norm().clamp(min=1e-30))


def run_model(model: LGFormer, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Runs the fixture inputs; returns tensors under the fixture's output/intermediate names."""
    with torch.no_grad():
        out = model(
            tensors["input.image"],
            tensors["input.token_ids"],
            tensors["input.attention_mask"],
            return_intermediates=True,
        )
    result = {f"output.mask_logits.{i}": t for i, t in enumerate(out.mask_logits)}
    for i, feat in enumerate(out.backbone.features):
        result[f"intermediate.backbone.stage{i}"] = feat
    result["intermediate.backbone.text"] = out.backbone.text
    result["intermediate.pixel_decoder.mask_features"] = out.pixel_decoder.mask_features
    for i, level in enumerate(out.pixel_decoder.levels):
        result[f"intermediate.pixel_decoder.level{i}"] = level
    return result


def check_fixture(json_path: str | Path) -> dict[str, float]:
    """Relative error of every reference tensor in the fixture (name -> error)."""
    fixture = ParityFixture.load(json_path)
    model = build_lgformer(fixture.config).eval()
    problems = manifest_differences(model, fixture.manifest)
    if problems:
        raise LGFormerError(
            "model does not match the fixture manifest:\n  " + "\n  ".join(problems[:20])
        )
    fill_formula_weights(model)
    try:
        ours = run_model(model, fixture.tensors)
    except (TypeError, ValueError) as err:  # check_inputs: the inputs do not fit the model
        raise LGFormerError(f"{json_path}: the fixture's inputs do not fit: {err}") from err
    errors = {}
    for name, ref in fixture.tensors.items():
        if name.startswith("input."):
            continue
        if name not in ours:
            raise LGFormerError(f"fixture tensor {name} has no counterpart in the model output")
        if tuple(ours[name].shape) != tuple(ref.shape):
            raise LGFormerError(
                f"{name}: shape {tuple(ours[name].shape)} but fixture has {tuple(ref.shape)}"
            )
        errors[name] = relative_error(ours[name], ref)
    if not errors:
        raise LGFormerError(f"{json_path}: the fixture holds no output.* or intermediate.* tensors")
    return errors
