"""Reading and writing LGFormer, Swin ImageNet and BERT weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from lgformer.checkpoints.bert import load_bert_weights, resolve_bert_dir
from lgformer.checkpoints.empty_model import build_empty_model, check_fits, fill_empty_model
from lgformer.checkpoints.imagenet import (
    LoadReport,
    filter_swin_imagenet,
    load_swin_imagenet,
    resize_bias_table,
)
from lgformer.checkpoints.infer_config import infer_config
from lgformer.checkpoints.io import (
    load_checkpoint_into,
    load_model_with,
    load_state_dict_strict,
    read_checkpoint,
    save_model,
)
from lgformer.checkpoints.state_dict import compare_keys, strip_prefix, unwrap_state_dict
from lgformer.model import LGFormer, build_lgformer

__all__ = [
    "LoadReport",
    "build_empty_model",
    "check_fits",
    "fill_empty_model",
    "filter_swin_imagenet",
    "load_bert_weights",
    "load_swin_imagenet",
    "resize_bias_table",
    "resolve_bert_dir",
    "compare_keys",
    "infer_config",
    "load_checkpoint_into",
    "load_model",
    "load_model_with",
    "load_state_dict_strict",
    "read_checkpoint",
    "save_model",
    "strip_prefix",
    "unwrap_state_dict",
]


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    preset: str | None = None,
    report: Callable[[str], None] | None = None,
) -> LGFormer:
    """The ``LGFormer`` a checkpoint or model folder describes, loaded, in eval mode.

    The config comes from ``preset`` if given, else from the checkpoint (training
    checkpoints, safetensors and folders carry it), else it is inferred from tensor
    shapes (released checkpoints). ``model.model_info`` is what the file records (input
    size, origin). ``report`` is called with a short line before each slow step.

    The config is checked against the file's tensor shapes (a safetensors header:
    before its data is read) and the model is built on the meta device, its parameters
    then being the file's tensors: no random init, and a config that lies about the
    sizes costs no memory.
    """
    return load_model_with(build_lgformer, path, device, preset=preset, report=report)
