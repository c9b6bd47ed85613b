"""``load_split``: one split of a REFER dataset, from REFER's own files or from its
Hugging Face parquet copies (``lgformer.data.hf_parquet``), as the same ``ReferSplit``;
``build_datasets``: the training and validation sets a training config names.

Formats (``--data-format``):

- ``refer``: ``<root>/<dataset>/refs(<splitBy>).p`` + ``instances.json`` (``load_refer``);
- ``hf-parquet``: ``*.parquet`` files under ``<root>``, or a hub dataset id such as
  ``jxu124/refcoco`` (downloaded where there is a network); images from ``image_dir``,
  by default the first of ``<root>/train2014`` and ``<root>/images/mscoco/images/train2014``
  that exists;
- ``auto`` (default): whichever of the two ``root`` holds; both is ambiguous (an error).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset, Subset

from lgformer.data.categories import load_image_categories
from lgformer.data.datasets import ReferTrainDataset, collate_samples
from lgformer.data.hf_parquet import load_hf_parquet, parquet_files
from lgformer.data.refer import ReferSplit, load_refer
from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer

if TYPE_CHECKING:
    from lgformer.engine.config import TrainConfig

DATA_FORMATS = ("auto", "refer", "hf-parquet")


def detect_format(root: str | Path, dataset: str) -> str:
    """``refer`` or ``hf-parquet``: what ``root`` holds for ``dataset``; ``refer`` when it
    holds neither (its errors name the files expected), an error when it holds both."""
    root = Path(root).expanduser()
    refer = any((root / dataset).glob("refs(*).p")) if root.is_dir() else False
    parquet = bool(parquet_files(root)) if root.is_dir() else False
    if refer and parquet:
        raise LGFormerError(
            f"{root} holds both REFER files ({dataset}/refs(...).p) and .parquet files: "
            "say which to read with --data-format refer or --data-format hf-parquet"
        )
    return "hf-parquet" if parquet else "refer"


def load_split(
    root: str | Path,
    dataset: str,
    split_by: str,
    split: str,
    *,
    data_format: str = "auto",
    image_dir: str | Path | None = None,
    tokenizer: SentenceTokenizer | None = None,
    check_images: bool = True,
) -> ReferSplit:
    """One split from ``root`` in ``data_format`` (see the module docstring)."""
    if data_format not in DATA_FORMATS:
        raise LGFormerError(f"unknown data format {data_format!r}; choose from {DATA_FORMATS}")
    if data_format == "auto":
        data_format = detect_format(root, dataset)
    if data_format == "refer":
        if image_dir is not None:
            raise LGFormerError("--image-dir is for --data-format hf-parquet; REFER data keeps "
                                "its images under <root>/images/")  # fmt: skip
        return load_refer(
            root, dataset, split_by, split, tokenizer=tokenizer, check_images=check_images
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        folder = _hub_dataset(str(root))
    return load_hf_parquet(
        folder, dataset, split_by, split, image_dir=_image_dir(folder, image_dir),
        tokenizer=tokenizer, check_images=check_images,
    )  # fmt: skip


def _image_dir(folder: Path, given: str | Path | None) -> Path:
    if given is not None:
        if not Path(given).is_dir():
            raise LGFormerError(f"image folder not found: {given}")
        return Path(given)
    for candidate in (folder / "train2014", folder / "images" / "mscoco" / "images" / "train2014"):
        if candidate.is_dir():
            return candidate
    raise LGFormerError(
        f"no train2014/ image folder in {folder}: give the COCO train2014 images with --image-dir"
    )


def _hub_dataset(repo: str) -> Path:
    """The local snapshot of hub dataset ``repo``'s parquet files (downloaded if needed)."""
    if repo.count("/") != 1:
        raise LGFormerError(f"data root not found: {repo} (nor is it a hub id like owner/name)")
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo, repo_type="dataset", allow_patterns=["*.parquet"])
    except Exception as err:  # offline, unknown repo: many types
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LGFormerError(
            f"data root {repo} is not a local folder, and the hub says: {first}"
        ) from err
    return Path(path)


def build_datasets(
    cfg: TrainConfig, max_words: int
) -> tuple[Dataset, Dataset | None, Callable[[list[dict[str, Any]]], dict[str, Any]]]:
    """(train set, validation set or None, collate function) from ``cfg.data``.

    Training draws one sentence per object per epoch (with the category labels of its
    image when the config uses the category loss); validation uses one seeded random
    sentence per object, the same in every epoch so that epochs compare fairly for best.pt.
    """
    data = cfg.data
    tokenizer = SentenceTokenizer(max_words=max_words)
    source = {"data_format": data.format, "image_dir": data.image_dir, "tokenizer": tokenizer}
    train_split = load_split(data.root, data.dataset, data.split_by, data.train_split, **source)
    categories = None
    if cfg.objective.uses_categories:
        if data.format == "hf-parquet" or detect_format(data.root, data.dataset) != "refer":
            raise LGFormerError(
                "the category loss needs COCO's instances.json (every object of an image), "
                "which the parquet copies lack: use REFER files, or turn the loss off"
            )
        image_ids = {ref.image_id for ref in train_split.refs}
        categories = load_image_categories(data.root, data.dataset, image_ids)
    train_set = ReferTrainDataset(
        train_split,
        image_size=data.image_size,
        seed=cfg.seed,
        shuffle_sentences=data.shuffle_sentences,
        categories=categories,
        cache_decoded=data.cache_decoded,
    )
    val_set: Dataset | None = None
    if cfg.validate and data.val_split:
        val_split = load_split(data.root, data.dataset, data.split_by, data.val_split, **source)
        val_set = ReferTrainDataset(
            val_split, image_size=data.image_size, seed=cfg.seed, cache_decoded=data.cache_decoded
        )
        if data.val_limit is not None and data.val_limit < len(val_set):
            val_set = Subset(val_set, range(data.val_limit))
    return train_set, val_set, collate_samples
