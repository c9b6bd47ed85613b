r"""Split the attribute sentences of a synthetic evaluation by the attribute words they use.

    lgformer evaluate ... --dataset synthetic --split val --per-sample val.csv
    python benchmarks/synthetic_by_attribute_words.py --data data/synthetic3500 \
        --per-sample val.csv [--output by_words.json]

An attribute sentence ("the green one", "the star", "the small green triangle")
names a size, a colour, a shape or several of them. Grouping its results by which
of the three it names shows which attribute a model has learned to ground: a
model that reads colours but not shapes scores high on "colour" and near the
text-blind level on "shape". Metrics as in spec section 9, per group and for all
attribute sentences.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from lgformer.data.synthetic.attributes import COLOURS, SHAPES, SIZE_WORDS
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from synthetic_by_kind import grouped_table, per_sample_cli

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


def main() -> None:
    per_sample_cli(__doc__.split("\n\n")[0], by_attribute_words, "words")


if __name__ == "__main__":
    main()
