r"""Break a synthetic-benchmark evaluation down, and bound what a text-blind model can do.

    lgformer evaluate ... --dataset synthetic --split val --per-sample val.csv
    python benchmarks/synthetic_breakdown.py --data data/synthetic3500 --per-sample val.csv \
        [--by kind rank words] [--output breakdown.json]
    python benchmarks/synthetic_breakdown.py --data data/synthetic3500 --text-blind-bound \
        [--splits val testA testB]

Each sentence of the synthetic benchmark has a ``kind`` (attribute, ordinal, relation,
superlative; see lgformer.data.synthetic). From ``lgformer evaluate --per-sample`` rows this
prints overall IoU, mean IoU and prec@0.5 (spec section 9) per group:

- ``kind``: per expression kind;
- ``rank``: the ordinal sentences by the rank they ask for ("rank 1" is an extreme, "the
  leftmost circle"; ranks 2 and 3 need the order of every member of the group), which
  shows whether a model counts or only finds extremes;
- ``words``: the attribute sentences by the attribute words they name (size, colour,
  shape or several), which shows which attribute a model grounds.

``--text-blind-bound`` scores, without any model, a predictor that sees the image but not
the sentence and so gives every sentence of an image the same mask: for each image it
picks with hindsight the best single mask among each annotated object, the union of all
objects and nothing. The mean IoU and prec@0.5 use the choice with the best mean IoU per
image; the overall IoU uses the set of per-image choices that maximises it (found exactly
by Dinkelbach iterations). This oracle bounds any text-blind model that outputs one of
these masks, and in practice any text-blind model (with k disjoint referred objects, a
fixed union of j of them also scores 1/k). Two plain priors are printed too: always the
largest object, always the most central one. Every sentence is one sample, at the
dataset's own resolution.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lgformer.data.masks import segmentation_to_mask
from lgformer.data.synthetic.attributes import COLOURS, SHAPES, SIZE_WORDS
from lgformer.data.synthetic.phrasing import parse
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY, SPLITS
from lgformer.evaluation import compute_metrics


def sentence_kinds(data_root: Path) -> dict[int, str]:
    """{sent_id: kind} of every sentence of a ``lgformer synth`` dataset."""
    refs = pickle.loads((data_root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    return {s["sent_id"]: s["kind"] for ref in refs for s in ref["sentences"]}


def kind_table(
    kinds: Sequence[str], intersections: Sequence[int], unions: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Per-sample kinds and pixel counts -> {kind (and "all"): {"overall_iou", "mean_iou",
    "precision@0.5" (percent, 2 decimals), "num_samples"}} (spec section 9 metrics)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, kind in enumerate(kinds):
        groups[kind].append(i)
        groups["all"].append(i)
    inter, union = np.asarray(intersections), np.asarray(unions)
    out = {}
    for key, rows in sorted(groups.items()):
        m = compute_metrics(inter[rows], union[rows], thresholds=(0.5,)).as_dict()
        out[key] = {k: m[k] for k in ("overall_iou", "mean_iou", "precision@0.5", "num_samples")}
    return out


def grouped_table(groups: dict[int, str], per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the rows of an ``lgformer evaluate --per-sample`` CSV whose
    sentence is in ``groups`` ({sent_id: group name}), grouped by it; others left out."""
    with open(per_sample, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["sent_id"]) in groups]
    return kind_table(
        [groups[int(r["sent_id"])] for r in rows],
        [int(r["intersection"]) for r in rows],
        [int(r["union"]) for r in rows],
    )


def by_kind(data_root: Path, per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the rows of an ``lgformer evaluate --per-sample`` CSV."""
    return grouped_table(sentence_kinds(data_root), per_sample)


def report(table: dict[str, dict[str, float]], label: str, output: Path | None) -> None:
    """Print a ``kind_table`` result as aligned columns (first column titled ``label``);
    also write it as JSON to ``output`` when given."""
    width = max(12, *(len(key) for key in table))
    print(f"{label:{width}s} {'samples':>8s} {'oIoU':>7s} {'mIoU':>7s} {'prec@0.5':>9s}")
    for key, m in table.items():
        print(
            f"{key:{width}s} {m['num_samples']:8d} {m['overall_iou']:7.2f} "
            f"{m['mean_iou']:7.2f} {m['precision@0.5']:9.2f}"
        )
    if output:
        output.write_text(json.dumps(table, indent=1) + "\n")


WORD_CLASSES: dict[str, frozenset[str]] = {
    "size": frozenset(w for words in SIZE_WORDS.values() for w in words),
    "colour": frozenset(COLOURS),
    "shape": frozenset(SHAPES),
}


def attribute_words(tokens: list[str]) -> str:
    """Which attribute classes a sentence names, e.g. "colour+shape" ("" if none)."""
    present = set(tokens)
    return "+".join(name for name, words in WORD_CLASSES.items() if present & words)


def attribute_sentence_groups(data_root: Path) -> dict[int, str]:
    """{sent_id: attribute_words(...)} for every attribute sentence of a dataset."""
    refs = pickle.loads((data_root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    return {
        s["sent_id"]: attribute_words(s["tokens"])
        for ref in refs
        for s in ref["sentences"]
        if s["kind"] == "attribute"
    }


def by_attribute_words(data_root: Path, per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the attribute sentences of an ``lgformer evaluate --per-sample``
    CSV, grouped by ``attribute_words``; other sentences are left out."""
    return grouped_table(attribute_sentence_groups(data_root), per_sample)


def ordinal_sentence_ranks(data_root: Path) -> dict[int, str]:
    """{sent_id: "rank N"} for every ordinal sentence of a ``lgformer synth`` dataset."""
    refs = pickle.loads((data_root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    return {
        s["sent_id"]: f"rank {parse(s['sent']).rank}"
        for ref in refs
        for s in ref["sentences"]
        if s["kind"] == "ordinal"
    }


def by_ordinal_rank(data_root: Path, per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the ordinal sentences of an ``lgformer evaluate --per-sample``
    CSV, grouped by rank; other sentences are left out."""
    return grouped_table(ordinal_sentence_ranks(data_root), per_sample)


def _iou_counts(pred: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    return int((pred & target).sum()), int((pred | target).sum())


def _image_samples(refs, anns_by_image, images):
    """Per image: its object masks (K, H, W) and the target index of every sentence."""
    per_image: dict[int, list[int]] = defaultdict(list)
    for ref in refs:
        per_image[ref["image_id"]] += [ref["ann_id"]] * len(ref["sentences"])
    for image_id, targets in per_image.items():
        anns = anns_by_image[image_id]
        im = images[image_id]
        masks = np.stack(
            [segmentation_to_mask(a["segmentation"], im["height"], im["width"]) for a in anns]
        )  # (K, H, W)
        ids = [a["id"] for a in anns]
        yield masks, [ids.index(t) for t in targets]


def _score(choices: list[tuple[np.ndarray, np.ndarray, list[int]]]) -> dict[str, float]:
    inter = union = 0
    ious = []
    for pred, masks, targets in choices:
        for t in targets:
            i, u = _iou_counts(pred, masks[t])
            inter, union = inter + i, union + u
            ious.append(i / u if u else 0.0)
    ious_a = np.asarray(ious)
    return {
        "oIoU": 100 * inter / max(union, 1),
        "mIoU": 100 * float(ious_a.mean()),
        "prec@0.5": 100 * float((ious_a >= 0.5).mean()),
        "samples": len(ious),
    }


def _best_overall(per_image: list[np.ndarray]) -> tuple[float, list[int]]:
    """Choose one candidate per image to maximise sum(I) / sum(U) (Dinkelbach iterations).

    ``per_image[k]`` is (C_k, 2): summed intersection and union of each candidate
    over the image's sentences. Returns the best ratio and the chosen indices.
    """
    ratio, chosen = 0.0, [0] * len(per_image)
    for _ in range(100):
        chosen = [int(np.argmax(c[:, 0] - ratio * c[:, 1])) for c in per_image]
        inter = sum(c[j, 0] for c, j in zip(per_image, chosen))
        union = sum(c[j, 1] for c, j in zip(per_image, chosen))
        new = inter / max(union, 1)
        if new <= ratio + 1e-12:
            break
        ratio = new
    return ratio, chosen


def text_blind_bound(root: Path, split: str) -> dict[str, dict[str, float]]:
    refs = pickle.loads((root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    refs = [r for r in refs if r["split"] == split]
    instances = json.loads((root / DATASET / "instances.json").read_text())
    images = {im["id"]: im for im in instances["images"]}
    anns_by_image: dict[int, list[dict]] = defaultdict(list)
    for a in instances["annotations"]:
        anns_by_image[a["image_id"]].append(a)

    oracle, largest, central, counts, targets_per_image = [], [], [], [], []
    for masks, targets in _image_samples(refs, anns_by_image, images):
        targets_per_image.append(len(set(targets)))
        candidates = list(masks) + [masks.any(0), np.zeros_like(masks[0])]
        # (C, T, 2): intersection and union of every candidate with every sentence's target.
        iu = np.array([[_iou_counts(c, masks[t]) for t in targets] for c in candidates])
        mean_iou = (iu[..., 0] / np.maximum(iu[..., 1], 1)).mean(1)  # (C,)
        # Rounded so that exact ties go to the first candidate (a single object).
        oracle.append((candidates[int(np.argmax(np.round(mean_iou, 9)))], masks, targets))
        counts.append(iu.sum(1))  # (C, 2)
        largest.append((masks[int(masks.sum((1, 2)).argmax())], masks, targets))
        h, w = masks.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w]
        dist = [np.hypot(xx[m].mean() - w / 2, yy[m].mean() - h / 2) for m in masks]
        central.append((masks[int(np.argmin(dist))], masks, targets))
    best = _score(oracle)
    best["oIoU"] = 100 * _best_overall(counts)[0]  # its own per-image choice
    result = {
        "text-blind oracle (best fixed mask per image)": best,
        "always the largest object": _score(largest),
        "always the most central object": _score(central),
    }
    result["_targets_per_image"] = {"mean": float(np.mean(targets_per_image))}
    return result


GROUPINGS = {"kind": by_kind, "rank": by_ordinal_rank, "words": by_attribute_words}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the synthetic data root")
    parser.add_argument("--per-sample", type=Path, default=None, help="lgformer evaluate CSV")
    parser.add_argument(
        "--by", nargs="+", default=list(GROUPINGS), choices=list(GROUPINGS), help="groupings"
    )
    parser.add_argument("--output", type=Path, default=None, help="also write JSON here")
    parser.add_argument(
        "--text-blind-bound", action="store_true", help="score the text-blind oracle instead"
    )
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), help="for the bound")
    args = parser.parse_args()
    if args.text_blind_bound:
        for split in args.splits:
            result = text_blind_bound(args.data, split)
            per = result.pop("_targets_per_image")["mean"]
            print(f"\n{split}: {per:.2f} referred objects per image")
            for name, m in result.items():
                print(
                    f"  {name:48s} oIoU {m['oIoU']:6.2f}  mIoU {m['mIoU']:6.2f}  "
                    f"prec@0.5 {m['prec@0.5']:6.2f}  ({m['samples']} sentences)"
                )
        return
    if args.per_sample is None:
        parser.error("give --per-sample (an lgformer evaluate CSV) or --text-blind-bound")
    tables = {name: GROUPINGS[name](args.data, args.per_sample) for name in args.by}
    for name, table in tables.items():
        report(table, name, None)
        print()
    if args.output:
        args.output.write_text(json.dumps(tables, indent=1) + "\n")


if __name__ == "__main__":
    main()
