"""The REFER datasets (RefCOCO, RefCOCO+, RefCOCOg, RefCLEF): one split, indexed once.

``load_refer`` reads ``refs(<splitBy>).p`` and ``instances.json``, selects the
refs of a split with the REFER rules, checks that every annotation and image
exists, and tokenises every sentence up front. The result, a ``ReferSplit``,
holds only plain arrays and small records, so it is cheap to hand to
DataLoader workers and every per-sample access is an array lookup, an image
read and a mask decode.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgformer.data.annotation_limits import check_image_size, check_segmentation
from lgformer.data.masks import segmentation_to_mask
from lgformer.data.plain_pickle import GlobalRefused, load_plain_pickle
from lgformer.data.refer_layout import (
    check_combination,
    image_dir,
    in_split,
    instances_path,
    refs_path,
)
from lgformer.data.sentence_table import tokenize_sentences
from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer


@dataclass(frozen=True)
class ReferRef:
    """One referred object: its image, annotation and the rows of its sentences."""

    ref_id: int
    ann_id: int
    image_id: int
    image_path: str
    height: int  # of the image, from instances.json
    width: int
    segmentation: Any  # COCO polygons or RLE, as stored in instances.json
    first_sentence: int  # its sentences are rows [first_sentence, first_sentence + num_sentences)
    num_sentences: int


@dataclass
class ReferSplit:
    """Every ref and sentence of one split, with the sentences already tokenised.

    Attributes:
        refs: the refs in file order.
        sent_ids: (N,) int64, the REFER ``sent_id`` of every sentence.
        sent_ref: (N,) int64, the index in ``refs`` of each sentence's ref.
        sentences: the N raw sentences.
        token_ids: (N, L) int32 BERT ids (cast to int64 when batched).
        attention_mask: (N, L) int8, 1 for real ids.
    """

    dataset: str
    split_by: str
    split: str
    refs: list[ReferRef]
    sent_ids: np.ndarray
    sent_ref: np.ndarray
    sentences: list[str]
    token_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def num_sentences(self) -> int:
        return len(self.sentences)

    def mask(self, ref_index: int) -> np.ndarray:
        """The (H, W) bool ground-truth mask of ``refs[ref_index]`` at image resolution."""
        ref = self.refs[ref_index]
        try:
            return segmentation_to_mask(ref.segmentation, ref.height, ref.width)
        except (TypeError, ValueError) as err:  # LGFormerError included: add which entry
            raise LGFormerError(
                f"annotation {ref.ann_id} (ref {ref.ref_id}) in {self.dataset}/instances.json "
                f"has an unusable segmentation: {err}"
            ) from err

    def describe(self) -> str:
        return (
            f"{self.dataset}({self.split_by}) {self.split}: {len(self.refs)} refs, "
            f"{self.num_sentences} sentences"
        )


def load_refer(
    root: str | Path,
    dataset: str,
    split_by: str,
    split: str,
    *,
    tokenizer: SentenceTokenizer | None = None,
    check_images: bool = True,
) -> ReferSplit:
    """Load and index one split of a REFER dataset.

    Args:
        root: the data root holding ``<dataset>/`` and ``images/`` (spec section 10).
        dataset: refcoco, refcoco+, refcocog or refclef.
        split_by: unc, google, umd or berkeley (whichever exist for ``dataset``).
        split: train, val, test, testA, testB (testC for refclef unc).
        tokenizer: tokenises the sentences; the default is bert-base-uncased, 20 ids.
        check_images: verify now that every image file of the split exists.

    Raises:
        LGFormerError: wrong root, missing files, unknown combination, a ref
            whose annotation or image entry is missing, a missing image file.
    """
    check_combination(dataset, split_by, split)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LGFormerError(f"data root not found: {root}")
    if not (root / dataset).is_dir():
        raise LGFormerError(
            f"no {dataset}/ directory under the data root {root}; "
            "expected <root>/<dataset>/refs(<splitBy>).p and instances.json"
        )
    # Parsing and indexing create millions of small containers; the cyclic garbage
    # collector would rescan them over and over (3x slower at RefCOCO scale).
    with _gc_paused():
        refs_file = refs_path(root, dataset, split_by)
        instances_file = instances_path(root, dataset)
        refs = _select(_load_refs(refs_file), split, dataset, split_by)
        images, anns = _load_instances(instances_file, *_referenced_ids(refs, refs_file))
        return index_split(
            dataset, split_by, split, refs, images, anns, image_dir(root, dataset),
            (refs_file, instances_file), tokenizer=tokenizer, check_images=check_images,
        )  # fmt: skip


def index_split(
    dataset: str,
    split_by: str,
    split: str,
    refs: list[dict],
    images: dict[int, dict],
    anns: dict[int, dict],
    folder: Path,
    files: tuple[Path, Path],
    *,
    tokenizer: SentenceTokenizer | None = None,
    check_images: bool = True,
) -> ReferSplit:
    """The ``ReferSplit`` of ``refs`` (REFER-style dicts, in order), their COCO ``images``
    and ``anns`` (id -> entry) and the image ``folder``; ``files`` (refs, instances) are
    named by errors. Shared by ``load_refer`` and the parquet reader (``hf_parquet``)."""
    records, sent_ids, sentences = _index(refs, images, anns, folder, files)
    if check_images:
        _check_images(records)
    tokenizer = tokenizer or SentenceTokenizer()
    token_ids, attention_mask = tokenize_sentences(tokenizer, sentences)
    counts = [r.num_sentences for r in records]
    return ReferSplit(
        dataset=dataset,
        split_by=split_by,
        split=split,
        refs=records,
        sent_ids=np.asarray(sent_ids, dtype=np.int64),
        sent_ref=np.repeat(np.arange(len(records), dtype=np.int64), counts),
        sentences=sentences,
        token_ids=token_ids,
        attention_mask=attention_mask,
    )


def _index(
    refs: list[dict],
    images: dict[int, dict],
    anns: dict[int, dict],
    folder: Path,
    files: tuple[Path, Path],
) -> tuple[list[ReferRef], list[int], list[str]]:
    """Refs -> records, plus the sent_id and raw text of every sentence in order.

    Every image size and segmentation is checked against ``annotation_limits`` (before
    pycocotools ever decodes one); polygon parts of fewer than 3 points are counted and
    warned about, once. ``files`` are the refs and instances files, named by the errors
    about their entries.
    """
    refs_file, instances_file = files
    records: list[ReferRef] = []
    sent_ids: list[int] = []
    sentences: list[str] = []
    degenerate: dict[int, int] = {}  # ann_id -> polygon parts with fewer than 3 points
    for ref in refs:
        try:
            ref_id, ann_id, image_id = int(ref["ref_id"]), int(ref["ann_id"]), int(ref["image_id"])
            rows = _sentence_rows(ref)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            which = f"ref {ref['ref_id']}" if "ref_id" in ref else "ref"
            raise LGFormerError(f"malformed {which} in {refs_file}: {_problem(err)}") from err
        ann = anns.get(ann_id)
        if ann is None:
            raise LGFormerError(f"ref {ref_id}: annotation {ann_id} is not in instances.json")
        image = images.get(image_id)
        if image is None:
            raise LGFormerError(f"ref {ref_id}: image {image_id} is not in instances.json")
        if not rows:
            raise LGFormerError(f"ref {ref_id} has no sentences")
        try:
            file_name, height, width = image["file_name"], int(image["height"]), int(image["width"])
            segmentation = ann["segmentation"]
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise LGFormerError(
                f"image {image_id} or annotation {ann_id} of ref {ref_id} in {instances_file} "
                f"is malformed: {_problem(err)}"
            ) from err
        try:
            check_image_size(height, width)
        except LGFormerError as err:
            raise LGFormerError(f"image {image_id} in {instances_file}: {err}") from err
        if ann_id not in degenerate:
            try:
                degenerate[ann_id] = check_segmentation(segmentation, height, width)
            except LGFormerError as err:
                raise LGFormerError(
                    f"annotation {ann_id} (ref {ref_id}) in {instances_file}: {err}; it was not "
                    "decoded: correct or remove this annotation"
                ) from err
        records.append(
            ReferRef(
                ref_id=ref_id,
                ann_id=ann_id,
                image_id=image_id,
                image_path=os.path.join(folder, file_name),
                height=height,
                width=width,
                segmentation=segmentation,
                first_sentence=len(sentences),
                num_sentences=len(rows),
            )
        )
        for sent_id, raw in rows:
            sent_ids.append(sent_id)
            sentences.append(raw)
    _refuse_repeated(sent_ids, refs_file)
    _warn_degenerate(degenerate, instances_file)
    return records, sent_ids, sentences


def _refuse_repeated(sent_ids: list[int], refs_file: Path) -> None:
    """``LGFormerError`` naming the sent_ids that occur more than once: each sentence is
    one sample of the evaluation and one row of its per-sample results."""
    if len(set(sent_ids)) == len(sent_ids):
        return
    seen: set[int] = set()
    repeated = sorted({i for i in sent_ids if i in seen or seen.add(i)})
    shown = ", ".join(map(str, repeated[:10])) + (" ..." if len(repeated) > 10 else "")
    raise LGFormerError(
        f"{refs_file} gives {len(repeated)} sent_ids to more than one sentence ({shown}); "
        "every sentence needs its own sent_id: the file is damaged or was merged badly"
    )


def _warn_degenerate(degenerate: dict[int, int], instances_file: Path) -> None:
    parts = sum(degenerate.values())
    if parts:
        anns = sorted(a for a, n in degenerate.items() if n)
        shown = ", ".join(map(str, anns[:10])) + (" ..." if len(anns) > 10 else "")
        warnings.warn(
            f"{parts} polygon parts with fewer than 3 points (no area) in {instances_file} "
            f"are skipped: annotations {shown}",
            stacklevel=3,
        )


def _sentence_rows(ref: dict) -> list[tuple[int, str]]:
    """(sent_id, raw text) of each sentence of ``ref``, in order.

    Raises:
        KeyError, TypeError, ValueError, AttributeError: a malformed sentence entry.
    """
    sents = ref.get("sentences") or []
    fallback_ids = ref.get("sent_ids") or [None] * len(sents)
    rows = []
    for sent, fallback in zip(sents, fallback_ids, strict=False):
        sent_id = sent.get("sent_id", fallback)
        if sent_id is None:
            raise KeyError("sent_id")
        # The released pipeline tokenises the raw sentence, not the cleaned 'sent'.
        rows.append((int(sent_id), sent.get("raw", sent.get("sent", ""))))
    return rows


def _problem(err: Exception) -> str:
    """What an error met while reading an entry says: the missing field, or its message."""
    return f"no {err} field" if isinstance(err, KeyError) else str(err)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored on exit, also on errors)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_refs(path: Path) -> list[dict]:
    if not path.is_file():
        raise LGFormerError(f"refs file not found: {path}")
    try:
        with open(path, "rb") as f:
            try:
                # Python 2 pickles hold sentences as byte strings, as a rule UTF-8.
                refs = load_plain_pickle(f, encoding="utf-8")
            except UnicodeDecodeError:
                # Byte strings in another encoding: latin1 reads any byte.
                f.seek(0)
                refs = load_plain_pickle(f, encoding="latin1")
    except GlobalRefused as err:
        raise LGFormerError(
            f"refs file {path} holds code or objects other than dicts, lists, strings and "
            f"numbers ({err.global_name}); it was not loaded: REFER refs files hold only "
            "those, so get this one again from a source you trust"
        ) from err
    except Exception as err:  # noqa: BLE001 - corrupt pickles fail in many error types
        raise LGFormerError(
            f"cannot read refs file {path} (truncated or corrupt?): "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err
    if not isinstance(refs, list):
        raise LGFormerError(f"refs file {path} does not hold a list of refs")
    return refs


def _select(refs: list[dict], split: str, dataset: str, split_by: str) -> list[dict]:
    try:
        chosen = [r for r in refs if in_split(r["split"], split)]
    except (KeyError, TypeError) as err:
        raise LGFormerError(f"malformed ref in refs({split_by}).p of {dataset}: {err}") from err
    if not chosen:
        present = sorted({str(r.get("split")) for r in refs if isinstance(r, dict)})
        raise LGFormerError(
            f"split {split!r} of {dataset}({split_by}) has no refs; the file has {present}"
        )
    return chosen


def _referenced_ids(refs: list[dict], path: Path) -> tuple[set[int], set[int]]:
    """The annotation and image ids that ``refs`` (read from ``path``) use."""
    try:
        return {int(r["ann_id"]) for r in refs}, {int(r["image_id"]) for r in refs}
    except (KeyError, TypeError, ValueError) as err:
        raise LGFormerError(f"malformed ref in {path}: {_problem(err)}") from err


def _load_instances(
    path: Path, want_ann: set[int], want_img: set[int]
) -> tuple[dict[int, dict], dict[int, dict]]:
    """Only the wanted images and annotations: id -> entry."""
    if not path.is_file():
        raise LGFormerError(f"instances file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        anns = {a["id"]: a for a in data["annotations"] if a["id"] in want_ann}
        images = {i["id"]: i for i in data["images"] if i["id"] in want_img}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LGFormerError(f"cannot read instances file {path}: {err}") from err
    except (KeyError, TypeError) as err:
        raise LGFormerError(f"instances file {path} is not COCO-style: {err}") from err
    return images, anns


def _check_images(records: list[ReferRef]) -> None:
    paths = sorted({r.image_path for r in records})
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise LGFormerError(f"image not found: {missing[0]}{more}")
