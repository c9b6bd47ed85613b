"""Where REFER files live and which dataset / splitBy / split combinations exist.

Layout (spec section 10)::

    <root>/<dataset>/refs(<splitBy>).p      pickled list of refs
    <root>/<dataset>/instances.json         COCO-style images / annotations / categories
    <root>/images/mscoco/images/train2014/  images of refcoco, refcoco+, refcocog
    <root>/images/saiapr_tc-12/             images of refclef
"""

from __future__ import annotations

from pathlib import Path

from lgformer.errors import LGFormerError

# dataset -> splitBy -> the splits that may be asked for. "test" is every ref whose
# split contains "test" (testA and testB too, as in the REFER API). A known split
# that a refs file happens not to contain fails later, naming the splits it has.
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "refcoco": {
        "unc": ("train", "val", "test", "testA", "testB"),
        "google": ("train", "val", "test", "testA", "testB"),
    },
    "refcoco+": {"unc": ("train", "val", "test", "testA", "testB")},
    "refcocog": {"umd": ("train", "val", "test"), "google": ("train", "val")},
    "refclef": {
        "unc": ("train", "val", "test", "testA", "testB", "testC"),
        "berkeley": ("train", "val", "test"),
    },
    # The synthetic benchmark written by `lgformer synth` (lgformer.data.synthetic).
    "synthetic": {"unc": ("train", "val", "testA", "testB")},
}

IMAGE_DIRS: dict[str, tuple[str, ...]] = {
    "refcoco": ("images", "mscoco", "images", "train2014"),
    "refcoco+": ("images", "mscoco", "images", "train2014"),
    "refcocog": ("images", "mscoco", "images", "train2014"),
    "refclef": ("images", "saiapr_tc-12"),
    "synthetic": ("images", "synthetic"),
}


def check_combination(dataset: str, split_by: str, split: str | None = None) -> None:
    """Raise ``LGFormerError`` unless ``dataset``/``split_by``/``split`` is a known combination."""
    if dataset not in SPLITS:
        raise LGFormerError(f"unknown dataset {dataset!r}; choose from {sorted(SPLITS)}")
    by = SPLITS[dataset]
    if split_by not in by:
        raise LGFormerError(f"unknown splitBy {split_by!r} for {dataset}; choose from {sorted(by)}")
    if split is not None and split not in by[split_by]:
        raise LGFormerError(
            f"unknown split {split!r} for {dataset} ({split_by}); choose from {list(by[split_by])}"
        )


def refs_path(root: str | Path, dataset: str, split_by: str) -> Path:
    """``<root>/<dataset>/refs(<splitBy>).p``."""
    return Path(root) / dataset / f"refs({split_by}).p"


def instances_path(root: str | Path, dataset: str) -> Path:
    """``<root>/<dataset>/instances.json``."""
    return Path(root) / dataset / "instances.json"


def image_dir(root: str | Path, dataset: str) -> Path:
    """The directory holding the images of ``dataset``."""
    return Path(root).joinpath(*IMAGE_DIRS[dataset])


def in_split(ref_split: str, split: str) -> bool:
    """Whether a ref whose ``split`` field is ``ref_split`` belongs to the requested ``split``.

    The rules of the original REFER API: ``testA``/``testB``/``testC`` select refs
    whose split contains the letter (so a ref marked ``testAB`` is in both testA
    and testB), ``test`` selects every ref whose split contains ``test``, and
    ``train``/``val`` (or anything else) must match exactly.
    """
    if split in ("testA", "testB", "testC"):
        return split[-1] in ref_split
    if split == "test":
        return "test" in ref_split
    return ref_split == split
