"""Reading and writing LGFormer, Swin ImageNet and BERT weights."""

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
