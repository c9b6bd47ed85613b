r"""Split the ordinal sentences of a synthetic evaluation by the rank they ask for.

    lgformer evaluate ... --dataset synthetic --split val --per-sample val.csv
    python benchmarks/synthetic_by_ordinal_rank.py --data data/synthetic3500 \
        --per-sample val.csv [--output by_rank.json]

An ordinal sentence asks for the first ("the leftmost circle"), second or third
("the second circle from the right") member of a group counted from one side. Rank 1
is an extreme, like a superlative; ranks 2 and 3 need the order of every member of
the group. Grouping the results by rank ("rank 1", "rank 2", ...) shows whether a
model counts or only finds extremes. Metrics as in spec section 9, per rank and for
all ordinal sentences.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from lgformer.data.synthetic.phrasing import parse
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from synthetic_by_kind import grouped_table, per_sample_cli


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


def main() -> None:
    per_sample_cli(__doc__.split("\n\n")[0], by_ordinal_rank, "ordinal")


if __name__ == "__main__":
    main()
