"""``export_onnx``: an LGFormer as an ONNX graph (the dynamo exporter).

The graph's inputs are ``image`` (B, 3, S, S) float32, ImageNet-normalised,
``token_ids`` (B, L) int64 and ``attention_mask`` (B, L) int64 (L = ``max_words``, 20
released; ids and mask as ``SentenceTokenizer`` makes them); its output is
``pred_logits`` (B, 1, S, S), the final mask logits. B is dynamic; S is fixed at export
(``image_size``, by default the size the model was trained at). The metadata
(``metadata_props``) records what a runtime needs beside the graph: ``image_size``,
``origin``, ``max_words``, the tokenizer, the normalisation, the model config and the
lgformer version. Opset 16 or later (``grid_sample`` of the deformable attention).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from lgformer.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer
from lgformer.model_info import choose_image_size

INPUT_NAMES = ("image", "token_ids", "attention_mask")
OUTPUT_NAME = "pred_logits"
MIN_OPSET = 16  # GridSample
DEFAULT_OPSET = 18
TOKENIZER = "bert-base-uncased WordPiece, [CLS] ... [SEP], truncated and 0-padded to max_words"


class PredLogits(nn.Module):
    """``LGFormer`` with one tensor out: the prediction's logits (B, 1, H, W)."""

    def __init__(self, model: LGFormer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, token_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.model(image, token_ids, attention_mask).pred_logits


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from these loggers (the exporter's optimiser logs every constant it
    cannot fold, which says nothing about the exported graph)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def onnx_metadata(model: LGFormer, image_size: int) -> dict[str, str]:
    """The ``metadata_props`` of an exported model."""
    from lgformer import __version__

    info = model.model_info
    return {
        "lgformer_version": __version__,
        "image_size": str(image_size),
        "origin": info.origin or "",
        "max_words": str(model.config.max_words),
        "tokenizer": TOKENIZER,
        "image_normalisation": json.dumps({"mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        "inputs": "image (B,3,S,S) float32; token_ids (B,L) int64; attention_mask (B,L) int64",
        "outputs": "pred_logits (B,1,S,S) float32: mask logits, > 0 is the object",
        "model_config": json.dumps(model.config.to_dict()),
    }


def export_onnx(
    model: LGFormer,
    out: str | Path,
    *,
    image_size: int | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Writes ``model`` (float32, CPU, eval) as an ONNX file ``out`` (atomically).

    Args:
        image_size: the graph's fixed input side (``None``: the size the model was
            trained at, 480 if its file records none).
        opset: ONNX opset, at least 16.
    """
    if opset < MIN_OPSET:
        raise LGFormerError(f"opset {opset} is too old: grid_sample needs opset {MIN_OPSET}+")
    size, _ = choose_image_size(model.model_info, image_size, "--image-size")
    model = model.float().cpu().eval()
    words = model.config.max_words
    example = (
        torch.randn(2, 3, size, size),
        torch.randint(0, 100, (2, words), dtype=torch.int64),
        torch.ones(2, words, dtype=torch.int64),
    )
    example[2][1, words // 2 :] = 0  # one padded sentence
    batch = torch.export.Dim("batch", min=1)
    dynamic = {name: {0: batch} for name in INPUT_NAMES}
    with warnings.catch_warnings(), _quiet_loggers("onnxscript", "torch.onnx"):
        warnings.simplefilter("ignore")  # exporter deprecation notes, not the user's concern
        program = torch.onnx.export(
            PredLogits(model),
            example,
            dynamo=True,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_shapes=dynamic,
            verbose=False,
        )
    if program is None:
        raise LGFormerError("the ONNX exporter returned no program")
    program.model.metadata_props.update(onnx_metadata(model, size))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        program.save(str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
