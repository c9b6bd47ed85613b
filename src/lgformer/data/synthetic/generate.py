"""Choosing the referring expressions of a target: unique, varied, and needing the words.

For one target we collect every query of each kind that refers to it and to
nothing else (attribute, ordinal, superlative, relation), then draw the
sentences round-robin over the kinds in a random order, so a target's
sentences mix attributes with order and relations. Ordinals and superlatives
are only used over groups of two or more (otherwise they would be attribute
phrases in disguise), and relations prefer a target noun phrase that is not
unique by itself, so the landmark is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from lgformer.data.synthetic.expressions import (
    EXTREMES,
    RELATIONS,
    SIDES,
    AttributeRef,
    Descriptor,
    HasAttributes,
    OrdinalRef,
    Query,
    RelationRef,
    SceneIndex,
    SuperlativeRef,
    all_descriptors,
    group,
    refers_uniquely,
    side_key,
)
from lgformer.data.synthetic.phrasing import to_text

MAX_RANK = 3  # "the third ... from the left" at most
MAX_RELATIONS = 3  # stop collecting relation queries after this many (speed)


def _attribute_queries(objects: SceneIndex, target: int, image_size: int) -> list[Query]:
    found = [AttributeRef(d) for d in all_descriptors(objects[target]) if d.num_attributes]
    found = [q for q in found if refers_uniquely(q, objects, target, image_size)]
    if not found:
        return []
    # Minimal descriptions first ("the green one" before "the small green triangle").
    fewest = min(q.what.num_attributes for q in found)
    return [q for q in found if q.what.num_attributes == fewest] + [
        q for q in found if q.what.num_attributes > fewest
    ]


def _ordinal_queries(objects: SceneIndex, target: int, image_size: int) -> list[Query]:
    found: list[Query] = []
    for d in all_descriptors(objects[target]):
        members = group(d, objects)
        if len(members) < 2:
            continue
        for side in SIDES:
            # Only the target's own rank from this side can refer to it.
            key = side_key(objects[target], side)
            rank = 1 + sum(side_key(objects[i], side) < key for i in members)
            q = OrdinalRef(d, rank, side)
            if rank <= MAX_RANK and refers_uniquely(q, objects, target, image_size):
                found.append(q)
    return found


def _superlative_queries(objects: SceneIndex, target: int, image_size: int) -> list[Query]:
    found: list[Query] = []
    for d in all_descriptors(objects[target]):
        if d.size is not None or len(group(d, objects)) < 2:
            continue
        for extreme in EXTREMES:
            q = SuperlativeRef(d, extreme)
            if refers_uniquely(q, objects, target, image_size):
                found.append(q)
    return found


def _landmark(objects: SceneIndex, index: int, rng: np.random.Generator) -> Descriptor | None:
    """A shortest descriptor that is unique to ``objects[index]`` (randomly among ties)."""
    unique = [
        d for d in all_descriptors(objects[index])
        if d.num_attributes and len(group(d, objects)) == 1
    ]  # fmt: skip
    if not unique:
        return None
    fewest = [d for d in unique if d.num_attributes == min(u.num_attributes for u in unique)]
    return fewest[int(rng.integers(len(fewest)))]


def _relation_queries(
    objects: SceneIndex, target: int, image_size: int, rng: np.random.Generator
) -> list[Query]:
    own = [d for d in all_descriptors(objects[target]) if d.num_attributes]
    needed = [d for d in own if len(group(d, objects)) >= 2]
    found: list[Query] = []
    others = [i for i in rng.permutation(len(objects)).tolist() if i != target]
    for i in others:
        landmark = _landmark(objects, i, rng)
        if landmark is None:
            continue
        for what, relation in product(needed or own, RELATIONS):
            q = RelationRef(what, relation, landmark)
            if refers_uniquely(q, objects, target, image_size):
                found.append(q)
                if len(found) >= MAX_RELATIONS:
                    return found
    return found


def candidate_queries(
    objects: Sequence[HasAttributes] | SceneIndex,
    target: int,
    image_size: int,
    rng: np.random.Generator,
) -> dict[str, list[Query]]:
    """Every kind's queries that refer uniquely to ``objects[target]`` (kinds with none omitted).

    Relations are sampled (at most ``MAX_RELATIONS``); the other kinds are exhaustive.
    """
    index = objects if isinstance(objects, SceneIndex) else SceneIndex(objects)
    pools = {
        "attribute": _attribute_queries(index, target, image_size),
        "ordinal": _ordinal_queries(index, target, image_size),
        "superlative": _superlative_queries(index, target, image_size),
        "relation": _relation_queries(index, target, image_size, rng),
    }
    return {kind: qs for kind, qs in pools.items() if qs}


def referring_expressions(
    objects: Sequence[HasAttributes] | SceneIndex,
    target: int,
    image_size: int,
    rng: np.random.Generator,
    *,
    count: int = 3,
) -> list[tuple[str, str]]:
    """Up to ``count`` distinct (sentence, kind) pairs, each unique to ``objects[target]``."""
    pools = candidate_queries(objects, target, image_size, rng)
    kinds = [list(pools)[i] for i in rng.permutation(len(pools))]
    chosen: list[tuple[str, str]] = []
    texts: set[str] = set()
    while kinds and len(chosen) < count:
        for kind in list(kinds):
            pool = pools[kind]
            # Attribute phrases: mostly a minimal one (they come first in the pool).
            j = 0 if kind == "attribute" and rng.random() < 0.6 else int(rng.integers(len(pool)))
            text = to_text(pool.pop(j), rng)
            if text not in texts:
                texts.add(text)
                chosen.append((text, kind))
            if not pool:
                kinds.remove(kind)
            if len(chosen) >= count:
                break
    return chosen
