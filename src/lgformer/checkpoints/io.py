"""Loading and saving LGFormer weights: released checkpoints, training checkpoints,
safetensors files and model folders.

Nothing here imports the model: ``load_model_with`` is given the function that builds
it (``lgformer.checkpoints.load_model`` passes ``build_lgformer``), so that the model's
own ``save_pretrained`` / ``from_pretrained`` can use this module without a circle.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lgformer.checkpoints.diagnosis import unreadable_checkpoint_message
from lgformer.checkpoints.empty_model import (
    ModelBuilder,
    build_empty_model,
    check_fits,
    fill_empty_model,
)
from lgformer.checkpoints.folder import (
    WEIGHTS_FILE,
    folder_config,
    is_model_folder,
    read_config_json,
    write_config_json,
)
from lgformer.checkpoints.infer_config import infer_config
from lgformer.checkpoints.mapped_safetensors import read_mapped, write_aligned
from lgformer.checkpoints.state_dict import unwrap_state_dict
from lgformer.config import LGFormerConfig, build_config
from lgformer.errors import CheckpointMismatchError, LGFormerError
from lgformer.model_info import ModelInfo, preset_of

CONFIG_METADATA_KEY = "lgformer_config"
# A frozen text encoder may be left out of a file and re-read from its (installed) source.
TEXT_SOURCE_METADATA_KEY = "lgformer_text_encoder_source"


@dataclass
class ModelFile:
    """What a model file holds: weights, the model config if stored, and its ``ModelInfo``."""

    state_dict: dict[str, torch.Tensor]
    config: dict | None
    info: ModelInfo


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Reads a checkpoint file or model folder -> (state dict, model config dict or None).

    ``.safetensors`` are memory-mapped (their tensors are views of the mapping);
    ``torch.save`` files are opened with ``mmap=True`` and ``weights_only=True``
    (argparse namespaces, which the released training script stores, are allowed).
    """
    found = read_model_file(path)
    return found.state_dict, found.config


def read_model_file(path: str | Path, *, tensors: bool = True) -> ModelFile:
    """Reads a released ``.pth``, a training ``.pt``, a ``.safetensors`` file or a model
    folder (``config.json`` + ``model.safetensors``), with what it records about itself.

    ``tensors=False`` reads only a safetensors file's header: its tensors come back on
    the meta device (their shapes, no data); a ``torch.save`` file is memory-mapped
    either way.
    """
    if is_model_folder(path):
        folder = Path(path)
        sd, config, info = _read_safetensors(folder / WEIGHTS_FILE, tensors=tensors)
        json_config, json_info = read_config_json(folder)
        return ModelFile(sd, json_config or config, json_info.or_else(info))
    path = checkpoint_file(path)
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        return ModelFile(*_read_safetensors(path, tensors=tensors))
    obj = _torch_load(path)
    try:
        sd = unwrap_state_dict(obj)
    except ValueError as err:
        raise LGFormerError(f"{path}: {err}") from err
    _check_storage(sd, path)
    config = obj.get("model_config") if isinstance(obj, dict) else None
    return ModelFile(sd, config, _torch_file_info(obj, path))


def _check_storage(sd: dict[str, torch.Tensor], path: Path) -> None:
    """A pickle can give a tensor any shape over a one-element storage (stride 0); such a
    tensor would make a model of that size look consistent. Refuse it."""
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor) or value.is_meta:
            continue
        if value.numel() * value.element_size() > value.untyped_storage().nbytes():
            raise LGFormerError(
                f"checkpoint {path}: tensor {key} has shape {tuple(value.shape)} but the file "
                "holds less data than that (a crafted or damaged file); it was not loaded"
            )


def _torch_file_info(obj: object, path: Path) -> ModelInfo:
    """The input size a ``torch.save`` file records: a training checkpoint's
    ``config.data.image_size``; a released one records none."""
    if not isinstance(obj, dict):
        return ModelInfo()
    run = obj.get("config")
    data = run.get("data") if isinstance(run, dict) else None
    if isinstance(data, dict) and data.get("image_size") is not None:
        origin = f"training checkpoint, step {obj.get('step', '?')}"
        return ModelInfo.from_dict({"image_size": data["image_size"], "origin": origin}, str(path))
    return ModelInfo()


def checkpoint_file(path: str | Path) -> Path:
    """``path`` as a ``Path`` if it is a file; ``LGFormerError`` saying what it is if not."""
    path = Path(path)
    if path.is_dir():
        raise LGFormerError(
            f"checkpoint {path} is a directory: give the checkpoint file in it, or a model "
            f"folder holding {WEIGHTS_FILE}"
        )
    if not path.is_file():
        raise LGFormerError(f"checkpoint not found: {path}")
    return path


def _looks_like_safetensors(path: Path) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little-endian) and '{'."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _torch_load(path: Path) -> object:
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be memory-mapped
        pass
    if path.stat().st_size == 0:
        raise LGFormerError(f"checkpoint {path} is empty (0 bytes): download or copy it again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise LGFormerError(unreadable_checkpoint_message(path, err)) from err


def _read_safetensors(
    path: Path, *, tensors: bool = True
) -> tuple[dict[str, torch.Tensor], dict | None, ModelInfo]:
    """(weights, config or None, info) of a safetensors file; a sidecar ``<name>.json``
    supplies the config and info its metadata lacks. ``tensors=False``: the weights are
    meta tensors of the header's shapes."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:  # checks the header
            meta = f.metadata() or {}
            sd = {k: _meta_tensor(f.get_slice(k)) for k in f.keys()}
        if tensors:  # views of a copy-on-write mapping of the file: no copy, no read yet
            sd = read_mapped(path)
    except Exception as err:
        raise LGFormerError(f"cannot read safetensors file {path}: {err}") from err
    if TEXT_SOURCE_METADATA_KEY in meta:
        sd.update(_text_encoder_weights(meta[TEXT_SOURCE_METADATA_KEY]))
    config = None
    if CONFIG_METADATA_KEY in meta:
        config = _json(meta[CONFIG_METADATA_KEY], f"the config metadata of {path}")
    info = ModelInfo.from_metadata(meta, f"the metadata of {path}")
    sibling = path.with_suffix(".json")
    if sibling.is_file() and (config is None or info.image_size is None):
        data = _json(sibling.read_text(encoding="utf-8"), str(sibling))
        if config is None:
            config = data.get("model_config", data) if isinstance(data, dict) else data
        if isinstance(data, dict):
            info = info.or_else(ModelInfo.from_dict(data, str(sibling)))
    return sd, config, info


def _meta_tensor(view: object) -> torch.Tensor:
    """A header entry of a safetensors file as a tensor of its shape without data (its
    dtype is not read: only shapes are compared before the data is)."""
    return torch.empty(view.get_shape(), device="meta")


def _json(text: str, source: str) -> object:
    """``json.loads(text)``; malformed JSON is an error naming ``source``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise LGFormerError(f"cannot read {source}: not valid JSON ({err})") from err


def load_state_dict_strict(
    model: torch.nn.Module, sd: dict[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """Copies every parameter; any missing, unexpected or wrongly-shaped key raises
    ``CheckpointMismatchError`` naming the keys and the likely cause."""
    check_fits(model, sd, source)
    model.load_state_dict(sd, strict=False)


def load_checkpoint_into(model: torch.nn.Module, path: str | Path) -> None:
    """Loads a released or training checkpoint into an existing model (strict)."""
    sd, _ = read_checkpoint(path)
    load_state_dict_strict(model, sd, str(path))


def load_model_with(
    build: ModelBuilder,
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    preset: str | None = None,
    report: Callable[[str], None] | None = None,
) -> torch.nn.Module:
    """``lgformer.checkpoints.load_model`` with the model built by ``build(config)`` (on
    the meta device)."""
    say = report or (lambda message: None)
    forced = build_config(preset) if preset is not None else None  # a bad name fails first
    say(f"reading {path}")
    found = read_model_file(path, tensors=False)
    header, config_dict = found.state_dict, found.config
    if forced is not None:
        config = forced
    elif config_dict is not None:
        config = _config_from_dict(config_dict, path)
        _check_stored_config(config, header, path)
    else:
        try:
            config = infer_config(header)
        except KeyError as err:
            raise LGFormerError(
                f"{path} is not an LGFormer checkpoint (no {err.args[0]!r}); "
                f"first keys: {list(header)[:5]}"
            ) from err
    say(f"building the model ({preset_of(config)})")
    model = build_empty_model(config, build)
    check_fits(model, header, str(path))
    say(f"loading {sum(v.numel() for v in header.values()) / 1e6:.1f}M weights")
    meta = any(v.is_meta for v in header.values())
    sd = read_model_file(path).state_dict if meta else header
    fill_empty_model(model, sd, str(path))
    model.model_info = found.info
    return model.to(device).eval()


# The config fields ``infer_config`` reads off tensor shapes.
_SHAPE_FIELDS = {
    "swin": ("embed_dim", "depths", "num_heads", "window_size"),
    "text": (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "intermediate_size",
        "max_position_embeddings",
        "type_vocab_size",
    ),
    "decoder": (
        "hidden_dim",
        "pixel_decoder_layers",
        "deform_ffn_dim",
        "text_cross_attn_ffn_dim",
        "mask_decoder_layers",
        "mask_decoder_ffn_dim",
    ),
}


def _check_stored_config(
    config: LGFormerConfig, header: dict[str, torch.Tensor], path: str | Path
) -> None:
    """One-line ``CheckpointMismatchError`` when the config stored with a file gives sizes
    its tensors do not have (checked on shapes alone, before any model is built)."""
    try:
        actual = infer_config(header)
    except (KeyError, IndexError):
        return  # an incomplete file: the key-by-key comparison names what is missing
    stored, found = config.to_dict(), actual.to_dict()
    pairs = [(f"{s}.{n}", stored[s][n], found[s][n]) for s, ns in _SHAPE_FIELDS.items() for n in ns]
    pairs.append(("max_words", stored["max_words"], found["max_words"]))
    for name, said, has in pairs:
        if said != has:
            raise CheckpointMismatchError(
                f"the model config stored with {path} says {name}={said} but its tensors have "
                f"{has}: the file is inconsistent (altered, or written by another tool); it was "
                "not loaded: export it again from its training checkpoint"
            )


def _config_from_dict(data: object, path: str | Path) -> LGFormerConfig:
    """The model config stored with a checkpoint; one this version cannot build is an error."""
    try:
        if not isinstance(data, dict):
            raise TypeError(f"expected a dict, got {type(data).__name__}")
        return LGFormerConfig.from_dict(data)
    except (TypeError, ValueError) as err:
        raise LGFormerError(
            f"the model config stored with {path} does not fit this version of lgformer: {err}"
        ) from err


def _text_encoder_weights(source: str) -> dict[str, torch.Tensor]:
    from lgformer.checkpoints.bert import read_bert_state_dict, resolve_bert_dir

    return {
        f"text_encoder.{k}": v for k, v in read_bert_state_dict(resolve_bert_dir(source)).items()
    }


def save_model(
    model: torch.nn.Module,
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
    text_encoder_source: str | None = None,
    info: ModelInfo | None = None,
) -> Path:
    """Writes weights, config and ``ModelInfo`` to one ``.safetensors`` file (atomically).

    Args:
        info: the input size and origin to record (default: ``model.model_info``).
        dtype: store floating-point tensors in this dtype (e.g. ``torch.float16``
            to halve the file); loading casts back to the model's dtype.
        text_encoder_source: leave the text encoder out of the file and record
            where to re-read it (``"minilm"`` or a transformers directory). Only
            allowed when the model's text encoder equals that source exactly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {CONFIG_METADATA_KEY: json.dumps(model.config.to_dict())}
    meta.update((info or model.model_info).to_metadata())
    if text_encoder_source is not None:
        source = _text_encoder_weights(text_encoder_source)
        for key, value in source.items():
            if key not in sd or not torch.equal(sd[key].to(value.dtype), value):
                raise LGFormerError(
                    f"cannot leave the text encoder out: {key} differs from {text_encoder_source}"
                )
        sd = {k: v for k, v in sd.items() if k not in source}
        meta[TEXT_SOURCE_METADATA_KEY] = text_encoder_source
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    tmp = path.with_name(path.name + ".tmp")
    write_aligned(sd, tmp, meta)  # a standard file whose tensors can be mapped in place
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as a new file gets it (a leftover .tmp keeps its own)
    tmp.replace(path)
    return path


def write_model_folder(model: object, directory: str | Path, info: ModelInfo | None = None) -> Path:
    """Writes ``model`` (an ``LGFormer``) as ``directory/model.safetensors`` and
    ``directory/config.json``; ``info`` defaults to ``model.model_info``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    info = info or model.model_info  # type: ignore[attr-defined]
    save_model(model, directory / WEIGHTS_FILE, info=info)  # type: ignore[arg-type]
    write_config_json(directory, folder_config(model.config.to_dict(), info))  # type: ignore[attr-defined]
    return directory
