"""Hugging Face-style model folders: ``config.json`` + ``model.safetensors``.

``config.json`` holds ``model_config`` (``LGFormerConfig.to_dict()``), ``image_size`` and
``origin`` (see ``lgformer.model_info``) and the writing version; ``model.safetensors``
holds the weights with the same config in its metadata, so the weights file also loads
on its own. Loading reads no pickle and memory-maps the weights. ``LGFormer.save_pretrained``
/ ``from_pretrained`` and ``lgformer convert`` write and read these folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lgformer.errors import LGFormerError
from lgformer.model_info import ModelInfo

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_TYPE = "lgformer"


def is_model_folder(path: str | Path) -> bool:
    """True if ``path`` is a directory holding ``model.safetensors``."""
    path = Path(path)
    return path.is_dir() and (path / WEIGHTS_FILE).is_file()


def folder_config(model_config: dict, info: ModelInfo) -> dict:
    """The ``config.json`` content for a model with this config and info."""
    from lgformer import __version__

    return {
        "model_type": MODEL_TYPE,
        "lgformer_version": __version__,
        **info.to_dict(),
        "model_config": model_config,
    }


def write_config_json(directory: Path, data: dict) -> Path:
    """Writes ``directory/config.json`` atomically (temporary file, then rename)."""
    path = directory / CONFIG_FILE
    tmp = path.with_name(f".{CONFIG_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_config_json(directory: Path) -> tuple[dict | None, ModelInfo]:
    """``(model_config or None, info)`` from ``directory/config.json``; no file gives
    ``(None, ModelInfo())`` so the weights' own metadata applies."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None, ModelInfo()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LGFormerError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise LGFormerError(f"{path} must hold a JSON object, got {type(data).__name__}")
    if data.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise LGFormerError(f"{path} describes a {data['model_type']!r} model, not an LGFormer one")
    return data.get("model_config"), ModelInfo.from_dict(data, str(path))
