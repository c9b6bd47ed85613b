"""``OnnxLGFormer``: an exported LGFormer (``lgformer export``) run by ONNX Runtime (CPU).

It takes the place of an ``LGFormer`` in ``ReferringSegmenter`` (``segment``, ``serve``,
``ReferringSegmenter.from_checkpoint("model.onnx")``): called with the same three
tensors it returns an ``LGFormerOutput`` holding the final logits. The graph's input
size is fixed; its metadata says which, and the model config.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from lgformer.config import LGFormerConfig
from lgformer.errors import LGFormerError
from lgformer.model import LGFormerOutput
from lgformer.model_info import ModelInfo


def is_onnx_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


class OnnxLGFormer:
    """An ONNX LGFormer on onnxruntime's CPU provider, callable like ``LGFormer``."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        """``threads``: onnxruntime's intra-op threads (``None``: its default)."""
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise LGFormerError(
                "running an .onnx model needs onnxruntime: pip install 'lgformer[onnx]'"
            ) from err
        path = Path(path)
        if not path.is_file():
            raise LGFormerError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise LGFormerError(f"cannot load ONNX model {path}: {err}") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        if "model_config" not in meta or "image_size" not in meta:
            raise LGFormerError(
                f"{path} has no lgformer metadata (model_config, image_size): export it with "
                "lgformer export"
            )
        self.config = LGFormerConfig.from_dict(json.loads(meta["model_config"]))
        self.model_info = ModelInfo.from_dict(
            {"image_size": meta["image_size"], "origin": meta.get("origin") or None}, str(path)
        )
        self.path = path

    def to(self, device: str | torch.device) -> OnnxLGFormer:
        if torch.device(device).type != "cpu":
            raise LGFormerError(
                f"an .onnx model runs on the CPU (onnxruntime's CPU provider), not {device}: "
                "use --device cpu"
            )
        return self

    def eval(self) -> OnnxLGFormer:
        return self

    def __call__(
        self, image: torch.Tensor, token_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> LGFormerOutput:
        """image (B, 3, S, S) float32 at the exported S; token_ids, attention_mask (B, L)
        -> ``LGFormerOutput`` whose ``pred_logits`` is (B, 1, S, S) float32."""
        size = self.model_info.image_size
        if tuple(image.shape[-2:]) != (size, size):
            raise LGFormerError(
                f"this ONNX model takes {size}x{size} images, got {tuple(image.shape[-2:])}: "
                "export it again with --image-size for another size"
            )
        feed = {
            "image": image.detach().cpu().float().numpy(),
            "token_ids": token_ids.detach().cpu().long().numpy(),
            "attention_mask": attention_mask.detach().cpu().long().numpy(),
        }
        (logits,) = self.session.run(["pred_logits"], feed)
        return LGFormerOutput([torch.from_numpy(np.ascontiguousarray(logits))])
