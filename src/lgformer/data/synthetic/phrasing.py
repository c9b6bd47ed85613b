"""Queries <-> English: ``to_text`` words a query (with some variety), ``parse`` reads it back.

Grammar (lower case, words separated by single spaces)::

    NP           := [size] [colour] noun          noun: a shape or object/shape/one
    attribute    := the NP
    ordinal      := the (leftmost|rightmost|topmost|highest|bottommost|lowest) NP
                  | the (second|third|fourth) NP from the (left|right|top|bottom)
    superlative  := the (largest|biggest|smallest) NP      (NP without a size word)
    relation     := the NP REL the NP
    REL          := left of | to the left of | right of | to the right of
                  | above | below | beneath
"""

from __future__ import annotations

import numpy as np

from lgformer.data.synthetic.attributes import COLOURS, GENERIC_NOUNS, SHAPES, SIZE_WORDS
from lgformer.data.synthetic.expressions import (
    AttributeRef,
    Descriptor,
    OrdinalRef,
    Query,
    RelationRef,
    SuperlativeRef,
)

RANK_WORDS: tuple[str, ...] = ("first", "second", "third", "fourth")
EXTREME_WORDS: dict[str, tuple[str, ...]] = {
    "largest": ("largest", "biggest"),
    "smallest": ("smallest",),
}
FIRST_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("leftmost",),
    "right": ("rightmost",),
    "top": ("topmost", "highest"),
    "bottom": ("bottommost", "lowest"),
}
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left of", "to the left of"),
    "right": ("right of", "to the right of"),
    "above": ("above",),
    "below": ("below", "beneath"),
}

_SIZE_OF = {w: s for s, words in SIZE_WORDS.items() for w in words}
_EXTREME_OF = {w: e for e, words in EXTREME_WORDS.items() for w in words}
_FIRST_OF = {w: side for side, words in FIRST_WORDS.items() for w in words}
_RELATION_OF = {w: r for r, words in RELATION_WORDS.items() for w in words}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def noun_phrase(what: Descriptor, rng: np.random.Generator) -> str:
    """Words for a descriptor, e.g. "small green triangle", "red one", "object"."""
    words = []
    if what.size is not None:
        words.append(_pick(rng, SIZE_WORDS[what.size]))
    if what.colour is not None:
        words.append(what.colour)
    if what.shape is not None:
        words.append(what.shape)
    else:
        # "one" needs a word before it: "the red one", never "the one".
        words.append(_pick(rng, GENERIC_NOUNS if words else GENERIC_NOUNS[:2]))
    return " ".join(words)


def to_text(query: Query, rng: np.random.Generator) -> str:
    """One English sentence for ``query``; ``rng`` picks among synonyms."""
    np_ = noun_phrase(query.what, rng)
    if isinstance(query, AttributeRef):
        return f"the {np_}"
    if isinstance(query, OrdinalRef):
        if query.rank == 1:
            return f"the {_pick(rng, FIRST_WORDS[query.side])} {np_}"
        return f"the {RANK_WORDS[query.rank - 1]} {np_} from the {query.side}"
    if isinstance(query, SuperlativeRef):
        return f"the {_pick(rng, EXTREME_WORDS[query.extreme])} {np_}"
    rel = _pick(rng, RELATION_WORDS[query.relation])
    return f"the {np_} {rel} the {noun_phrase(query.landmark, rng)}"


def _parse_np(words: list[str]) -> Descriptor:
    size = colour = shape = None
    rest = list(words)
    if rest and rest[0] in _SIZE_OF:
        size = _SIZE_OF[rest.pop(0)]
    if rest and rest[0] in COLOURS:
        colour = rest.pop(0)
    if len(rest) != 1 or (rest[0] not in SHAPES and rest[0] not in GENERIC_NOUNS):
        raise ValueError(f"not a noun phrase: {' '.join(words)!r}")
    if rest[0] in SHAPES:
        shape = rest[0]
    elif rest[0] == "one" and size is None and colour is None:
        raise ValueError("'one' needs an attribute before it")
    return Descriptor(size=size, colour=colour, shape=shape)


def _find_relation(words: list[str]) -> tuple[int, int, str] | None:
    """(start, end, relation) of the relation phrase in ``words``, if any."""
    for i in range(1, len(words)):
        for n in (4, 2, 1):
            phrase = " ".join(words[i : i + n])
            if phrase in _RELATION_OF:
                return i, i + n, _RELATION_OF[phrase]
    return None


def parse(text: str) -> Query:
    """Read a sentence of the grammar above back into a query; ``ValueError`` otherwise."""
    words = text.strip().split()
    if len(words) < 2 or words[0] != "the":
        raise ValueError(f"a referring expression starts with 'the': {text!r}")
    head = words[1]
    if head in _EXTREME_OF:
        what = _parse_np(words[2:])
        if what.size is not None:
            raise ValueError(f"a superlative takes no size word: {text!r}")
        return SuperlativeRef(what, _EXTREME_OF[head])
    if head in _FIRST_OF:
        return OrdinalRef(_parse_np(words[2:]), 1, _FIRST_OF[head])
    if head in RANK_WORDS[1:]:
        if len(words) < 6 or words[-3:-1] != ["from", "the"] or words[-1] not in _FIRST_OF.values():
            raise ValueError(f"an ordinal ends with 'from the <side>': {text!r}")
        return OrdinalRef(_parse_np(words[2:-3]), RANK_WORDS.index(head) + 1, words[-1])
    found = _find_relation(words)
    if found is not None:
        start, end, relation = found
        if end >= len(words) or words[end] != "the":
            raise ValueError(f"a relation names 'the' landmark: {text!r}")
        return RelationRef(_parse_np(words[1:start]), relation, _parse_np(words[end + 1 :]))
    return AttributeRef(_parse_np(words[1:]))
