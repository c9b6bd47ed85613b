"""Reading and writing LGFormer, Swin ImageNet and BERT weights."""

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
    load_model,
    load_state_dict_strict,
    read_checkpoint,
    save_model,
)
from lgformer.checkpoints.state_dict import compare_keys, strip_prefix, unwrap_state_dict

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
    "load_state_dict_strict",
    "read_checkpoint",
    "save_model",
    "strip_prefix",
    "unwrap_state_dict",
]
