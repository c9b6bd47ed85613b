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


def hub_folder(
    model_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local model folder for ``model_id``: the directory itself if it is one, else the
    Hugging Face hub snapshot of repo ``model_id`` holding its two files (downloaded
    unless cached; needs a network then)."""
    if Path(model_id).is_dir():
        if not is_model_folder(model_id):
            raise LGFormerError(f"{model_id} is a directory without {WEIGHTS_FILE}")
        return Path(model_id)
    from huggingface_hub import hf_hub_download

    options = dict(
        repo_id=model_id,
        revision=revision,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        token=token,
    )
    try:
        weights = hf_hub_download(filename=WEIGHTS_FILE, **options)
        hf_hub_download(filename=CONFIG_FILE, **options)
    except Exception as err:  # offline, unknown repo, missing file: many types
        raise LGFormerError(
            f"cannot get model {model_id!r}: not a local folder, and the hub says: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err
    return Path(weights).parent
