"""RefCOCO, RefCOCO+ and RefCOCOg from their Hugging Face parquet copies (``jxu124/refcoco``
and its siblings), read into the same ``ReferSplit`` as ``load_refer``.

One row per ref. Columns read: ``ref_id``, ``ann_id``, ``image_id``, ``split``,
``sentences`` (a list of ``{raw, sent, sent_id, tokens}``), ``raw_anns`` (the COCO
annotation, a JSON string) and ``raw_image_info`` (the COCO image entry, a JSON string);
the others (``sent_ids``, ``file_name``, ``category_id``, ``raw_sentences``,
``image_path``, ``bbox``, ``captions``, ``global_image_id``) are not needed. Images are
the COCO train2014 files, from a local folder, named by ``raw_image_info.file_name``.

Which REFER split a ref is in:

1. the row's ``split`` column, which holds REFER's split names, where present;
2. else the file's split, the part of its name before the first ``-``
   (``validation-00000-of-00001.parquet``), through ``HF_SPLIT_NAMES``. The hub's names
   are not REFER's: ``jxu124/refcoco`` has train / validation / test / testB with
   42404 / 3811 / 1975 / 1810 refs, its ``test`` being REFER unc's testA. A file is
   taken only if its ref count is REFER's count for the split it maps to
   (``REFER_REF_COUNTS``); one that matches neither way is refused.

Refs come in ``ref_id`` order, as in REFER's pickles, whatever the file order. Reading
needs pyarrow (``lgformer[parquet]``); ``lgformer.data.sources`` also fetches a hub
dataset's files where there is a network.
"""

from __future__ import annotations

import json
from pathlib import Path

from lgformer.data.refer import ReferSplit, index_split
from lgformer.data.refer_layout import check_combination, in_split
from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer

COLUMNS = ("ref_id", "ann_id", "image_id", "split", "sentences", "raw_anns", "raw_image_info")
REQUIRED = tuple(c for c in COLUMNS if c != "split")

# (dataset, splitBy) -> the hub file split name -> the REFER split it holds.
_UNC = {"train": "train", "validation": "val", "val": "val", "test": "testA", "testA": "testA",
        "testB": "testB"}  # fmt: skip
HF_SPLIT_NAMES: dict[tuple[str, str], dict[str, str]] = {
    ("refcoco", "unc"): _UNC,
    ("refcoco+", "unc"): _UNC,
    ("refcocog", "umd"): {"train": "train", "validation": "val", "val": "val", "test": "test"},
    ("refcocog", "google"): {"train": "train", "validation": "val", "val": "val"},
}
# Refs per split in REFER's pickles (REFER's release; refcocog google has no test split).
REFER_REF_COUNTS: dict[tuple[str, str], dict[str, int]] = {
    ("refcoco", "unc"): {"train": 42404, "val": 3811, "testA": 1975, "testB": 1810},
    ("refcoco+", "unc"): {"train": 42278, "val": 3805, "testA": 1975, "testB": 1798},
    ("refcocog", "umd"): {"train": 42226, "val": 2573, "test": 5023},
    ("refcocog", "google"): {"train": 44822, "val": 5000},
}


def parquet_files(folder: str | Path) -> list[Path]:
    """The ``*.parquet`` files in ``folder`` and its subfolders (the hub's ``data/``),
    not deeper, sorted."""
    folder = Path(folder)
    found = [*folder.glob("*.parquet"), *folder.glob("*/*.parquet")]
    return sorted(p for p in found if p.is_file())


def load_hf_parquet(
    folder: str | Path,
    dataset: str,
    split_by: str,
    split: str,
    *,
    image_dir: str | Path,
    tokenizer: SentenceTokenizer | None = None,
    check_images: bool = True,
) -> ReferSplit:
    """One split of a REFER dataset from a folder of its Hugging Face parquet files.

    Args:
        folder: holds the ``*.parquet`` files (or its subfolders do, e.g. ``data/``).
        image_dir: the COCO train2014 images.
        The rest as for ``load_refer``.

    Raises:
        LGFormerError: no parquet files, a missing column, a file whose split cannot be
            told (see the module docstring), a split with no refs, a malformed row.
    """
    check_combination(dataset, split_by, split)
    files = parquet_files(folder)
    if not files:
        raise LGFormerError(f"no .parquet files under {folder}")
    refs, images, anns = [], {}, {}
    for path in files:
        for row in _rows(path, dataset, split_by):
            if not in_split(row["split"], split):
                continue
            refs.append(row)
            images[row["image_id"]] = row.pop("raw_image_info")
            anns[row["ann_id"]] = row.pop("raw_anns")
    if not refs:
        raise LGFormerError(f"split {split!r} of {dataset}({split_by}) has no refs in {folder}")
    refs.sort(key=lambda r: r["ref_id"])
    return index_split(
        dataset, split_by, split, refs, images, anns, Path(image_dir), (folder, folder),
        tokenizer=tokenizer, check_images=check_images,
    )  # fmt: skip


def _rows(path: Path, dataset: str, split_by: str) -> list[dict]:
    """The refs of one parquet file as REFER-style dicts, each with its REFER ``split``
    and its parsed ``raw_anns`` / ``raw_image_info``."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise LGFormerError(
            "reading parquet files needs pyarrow: pip install 'lgformer[parquet]'"
        ) from err
    try:
        names = pq.read_schema(path).names
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise LGFormerError(
                f"{path} lacks the column(s) {missing} of the Hugging Face RefCOCO copies "
                f"(it has {names})"
            )
        table = pq.read_table(path, columns=[c for c in COLUMNS if c in names])
    except LGFormerError:
        raise
    except Exception as err:  # pyarrow raises its own types for corrupt files
        raise LGFormerError(f"cannot read parquet file {path}: {err}") from err
    rows = table.to_pylist()
    fixed = None if "split" in names else _file_split(path, len(rows), dataset, split_by)
    out = []
    for row in rows:
        try:
            out.append(
                {
                    "ref_id": int(row["ref_id"]),
                    "ann_id": int(row["ann_id"]),
                    "image_id": int(row["image_id"]),
                    "split": fixed or str(row["split"]),
                    "sentences": list(row["sentences"]),
                    "raw_anns": json.loads(row["raw_anns"]),
                    "raw_image_info": json.loads(row["raw_image_info"]),
                }
            )
        except (KeyError, TypeError, ValueError) as err:
            raise LGFormerError(
                f"malformed row (ref {row.get('ref_id')}) in {path}: {err}"
            ) from err
    return out


def _file_split(path: Path, count: int, dataset: str, split_by: str) -> str:
    """The REFER split of a file without a ``split`` column: its name through
    ``HF_SPLIT_NAMES``, confirmed by REFER's ref count; ``LGFormerError`` otherwise."""
    name = path.name.split("-", 1)[0].split(".", 1)[0]
    table = HF_SPLIT_NAMES.get((dataset, split_by))
    counts = REFER_REF_COUNTS.get((dataset, split_by), {})
    if table is None:
        raise LGFormerError(
            f"{path} has no split column, and the split of {dataset}({split_by}) files cannot "
            f"be told from their names (known: {sorted(HF_SPLIT_NAMES)})"
        )
    split = table.get(name)
    if split is not None and counts.get(split) == count:
        return split
    raise LGFormerError(
        f"{path} has no split column and {count} refs, which match neither its name's split "
        f"({name!r} -> {split or 'unknown'}: {counts.get(split, '?')} refs) nor use: REFER's "
        f"{dataset}({split_by}) counts are {counts}; check --dataset / --split-by, or give "
        "files with a split column"
    )
