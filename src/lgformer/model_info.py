"""What a model file records beside its weights: the input size it was trained at, and
where it came from.

Where each file keeps it:

- ``.safetensors``: metadata ``lgformer_image_size`` and ``lgformer_origin`` beside
  ``lgformer_config``; for a file written before these existed, a sidecar
  ``<name>.json`` with ``image_size`` / ``origin`` (the bundled model has one).
- model folder (``save_pretrained``): ``config.json`` keys ``image_size`` and ``origin``.
- training checkpoint (``last.pt``, ``best.pt``): the run's ``config.data.image_size``.
- ONNX export: metadata ``image_size``, ``origin``.
- released ``.pth``: nothing; they were trained at ``RELEASED_IMAGE_SIZE``.

Commands and the predictor run a model at its recorded size unless told otherwise,
and warn when told a different one.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lgformer.errors import LGFormerError

# The released recipe's input side; what a file without a recorded size is run at.
RELEASED_IMAGE_SIZE = 480
IMAGE_SIZE_KEY = "image_size"
ORIGIN_KEY = "origin"
METADATA_PREFIX = "lgformer_"  # safetensors metadata keys: lgformer_image_size, lgformer_origin


@dataclass(frozen=True)
class ModelInfo:
    """The input size a model was trained at (``None``: not recorded) and its origin."""

    image_size: int | None = None
    origin: str | None = None

    def to_dict(self) -> dict[str, int | str]:
        """The recorded fields, for JSON (``config.json``, a sidecar, ONNX metadata)."""
        data: dict[str, int | str] = {}
        if self.image_size is not None:
            data[IMAGE_SIZE_KEY] = self.image_size
        if self.origin is not None:
            data[ORIGIN_KEY] = self.origin
        return data

    def to_metadata(self) -> dict[str, str]:
        """The recorded fields as safetensors metadata (string values)."""
        return {METADATA_PREFIX + k: str(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], source: str) -> ModelInfo:
        """Reads ``image_size`` / ``origin`` from ``data`` (other keys ignored); a size that
        is not a positive whole number is an error naming ``source``."""
        size = data.get(IMAGE_SIZE_KEY)
        if size is not None:
            try:
                ok = not isinstance(size, bool) and int(size) == float(size) and int(size) >= 1
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise LGFormerError(
                    f"{source}: image_size must be a whole number >= 1, got {size!r}"
                )
            size = int(size)
        origin = data.get(ORIGIN_KEY)
        return cls(image_size=size, origin=None if origin is None else str(origin))

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], source: str) -> ModelInfo:
        """Inverse of ``to_metadata``."""
        n = len(METADATA_PREFIX)
        fields = {k[n:]: v for k, v in meta.items() if k.startswith(METADATA_PREFIX)}
        return cls.from_dict(fields, source)

    def or_else(self, other: ModelInfo) -> ModelInfo:
        """This info, with the fields it lacks taken from ``other``."""
        return replace(
            self,
            image_size=self.image_size if self.image_size is not None else other.image_size,
            origin=self.origin if self.origin is not None else other.origin,
        )


def choose_image_size(
    info: ModelInfo, requested: int | None, option: str = "image_size"
) -> tuple[int, str]:
    """The input size to run a model at, and why, as a short phrase.

    ``requested`` (``None``: not given) wins; one that differs from the recorded size
    is run as asked, with a warning. Without either, ``RELEASED_IMAGE_SIZE``.
    """
    trained = info.image_size
    if requested is None:
        if trained is not None:
            return trained, "the size it was trained at"
        return RELEASED_IMAGE_SIZE, "none recorded in the file: the released recipe's size"
    if trained is None:
        return requested, f"{option}; the file records no training size"
    if requested != trained:
        warnings.warn(
            f"{option} {requested}: this model was trained at {trained} px (recorded in the "
            f"file), so expect worse masks; leave {option} out to run at {trained}",
            UserWarning,
            stacklevel=3,
        )
        return requested, f"{option}; trained at {trained} px"
    return requested, f"{option}, the size it was trained at"


def describe_model(source: str, preset: str, size: int, why: str, origin: str | None) -> str:
    """The one line a command prints about the model it runs."""
    came_from = f"; {origin}" if origin else ""
    return f"model: {source} ({preset}{came_from}); input {size}x{size} px ({why})"


def preset_of(config: object) -> str:
    """The name of the preset ``config`` (an ``LGFormerConfig``) equals, or a short
    description of a custom one."""
    from lgformer.config import PRESETS

    data = config.to_dict()  # type: ignore[attr-defined]
    for name, preset in PRESETS.items():
        if preset.to_dict() == data:
            return f"preset {name}"
    swin, text = config.swin, config.text  # type: ignore[attr-defined]
    return (
        f"custom config: Swin {swin.embed_dim}x{list(swin.depths)} window {swin.window_size}, "
        f"text {text.hidden_size}x{text.num_hidden_layers}"
    )
