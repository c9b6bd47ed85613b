"""What a referring expression means: a small query language and its resolver.

A query picks out objects of a scene. ``resolve`` returns the indices of the
objects it refers to, or ``None`` when the scene leaves it ambiguous (two
candidates too close to order, a landmark that is not unique, sizes too
similar to call one "the largest"). A query refers uniquely to object ``i``
exactly when ``resolve(...) == [i]``; the generator keeps only such queries,
and the tests re-parse the written sentences and resolve them again.

Spatial words use object centres (of the whole shape, occluded or not), with
margins in fractions of the image side so that no decision is borderline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

ORDER_GAP = 0.05  # neighbours in an ordering differ by at least this (x image side)
RELATION_GAP = 0.06  # "left of" means at least this far to the left
AREA_RATIO = 1.3  # "the largest" is at least this much larger than the runner-up

SIDES: tuple[str, ...] = ("left", "right", "top", "bottom")
RELATIONS: tuple[str, ...] = ("left", "right", "above", "below")
EXTREMES: tuple[str, ...] = ("largest", "smallest")


class HasAttributes(Protocol):
    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    area: float


class Descriptor(NamedTuple):
    """A noun phrase: the attributes an object must have (``None`` = any).

    A named tuple rather than a dataclass: it is hashed very often (group lookups).
    """

    size: str | None = None
    colour: str | None = None
    shape: str | None = None

    def matches(self, obj: HasAttributes) -> bool:
        return (
            (self.size is None or obj.size == self.size)
            and (self.colour is None or obj.colour == self.colour)
            and (self.shape is None or obj.shape == self.shape)
        )

    @property
    def num_attributes(self) -> int:
        return sum(v is not None for v in (self.size, self.colour, self.shape))


@dataclass(frozen=True)
class AttributeRef:
    """ "the small green triangle"."""

    what: Descriptor


@dataclass(frozen=True)
class OrdinalRef:
    """ "the second circle from the left" (rank 2) or "the leftmost circle" (rank 1)."""

    what: Descriptor
    rank: int  # 1-based
    side: str  # one of SIDES


@dataclass(frozen=True)
class SuperlativeRef:
    """ "the largest object", "the smallest red shape"."""

    what: Descriptor
    extreme: str  # one of EXTREMES


@dataclass(frozen=True)
class RelationRef:
    """ "the square left of the red circle": ``what`` in ``relation`` to a unique ``landmark``."""

    what: Descriptor
    relation: str  # one of RELATIONS
    landmark: Descriptor


Query = AttributeRef | OrdinalRef | SuperlativeRef | RelationRef

KINDS: dict[type, str] = {
    AttributeRef: "attribute",
    OrdinalRef: "ordinal",
    SuperlativeRef: "superlative",
    RelationRef: "relation",
}


def all_descriptors(obj: HasAttributes) -> list[Descriptor]:
    """The 8 descriptors that ``obj`` matches, from the empty one to all three attributes."""
    return [
        Descriptor(size=obj.size if s else None, colour=obj.colour if c else None,
                   shape=obj.shape if h else None)
        for s in (False, True) for c in (False, True) for h in (False, True)
    ]  # fmt: skip


class SceneIndex:
    """A scene's objects with every descriptor's group precomputed (resolving gets cheap).

    Build one per scene and pass it wherever ``objects`` is expected.
    """

    def __init__(self, objects: Sequence[HasAttributes]) -> None:
        self.objects = objects
        self.groups: dict[Descriptor, list[int]] = {}
        for i, obj in enumerate(objects):
            for d in all_descriptors(obj):
                self.groups.setdefault(d, []).append(i)

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, i: int) -> HasAttributes:
        return self.objects[i]

    def group(self, what: Descriptor) -> list[int]:
        return self.groups.get(what, [])


def group(what: Descriptor, objects: Sequence[HasAttributes] | SceneIndex) -> list[int]:
    """Indices of the objects matching a descriptor."""
    if isinstance(objects, SceneIndex):
        return objects.group(what)
    return [i for i, o in enumerate(objects) if what.matches(o)]


def side_key(obj: HasAttributes, side: str) -> float:
    # Smaller key = closer to the side the ordinal counts from.
    return {"left": obj.cx, "right": -obj.cx, "top": obj.cy, "bottom": -obj.cy}[side]


def _ordinal(q: OrdinalRef, objects: Sequence[HasAttributes], image_size: int) -> list[int] | None:
    members = sorted(group(q.what, objects), key=lambda i: side_key(objects[i], q.side))
    if len(members) < q.rank:
        return []
    k = q.rank - 1
    keys = [side_key(objects[i], q.side) for i in members]
    gap = ORDER_GAP * image_size
    if (k > 0 and keys[k] - keys[k - 1] < gap) or (
        k + 1 < len(keys) and keys[k + 1] - keys[k] < gap
    ):
        return None
    return [members[k]]


def _superlative(
    q: SuperlativeRef, objects: Sequence[HasAttributes], image_size: int
) -> list[int] | None:
    sign = 1.0 if q.extreme == "largest" else -1.0
    members = sorted(group(q.what, objects), key=lambda i: -sign * objects[i].area)
    if len(members) >= 2:
        a, b = objects[members[0]].area, objects[members[1]].area
        if max(a, b) < AREA_RATIO * min(a, b):
            return None
    return members[:1]


def _displacement(obj: HasAttributes, landmark: HasAttributes, relation: str) -> float:
    """How far ``obj`` lies in the relation's direction from ``landmark`` (pixels)."""
    if relation == "left":
        return landmark.cx - obj.cx
    if relation == "right":
        return obj.cx - landmark.cx
    if relation == "above":
        return landmark.cy - obj.cy
    return obj.cy - landmark.cy


def _relation(
    q: RelationRef, objects: Sequence[HasAttributes], image_size: int
) -> list[int] | None:
    landmarks = group(q.landmark, objects)
    if len(landmarks) != 1:
        return None
    lm = objects[landmarks[0]]
    gap = RELATION_GAP * image_size
    hits = []
    for i in group(q.what, objects):
        if i == landmarks[0]:
            continue
        d = _displacement(objects[i], lm, q.relation)
        if 0 < d < gap:  # neither clearly in the relation nor clearly not
            return None
        if d >= gap:
            hits.append(i)
    return hits


def resolve(query: Query, objects: Sequence[HasAttributes], image_size: int) -> list[int] | None:
    """The indices of the objects ``query`` refers to, or ``None`` if the scene makes it ambiguous.

    Args:
        query: a parsed or generated query.
        objects: the scene's objects (attributes, centres and areas are read).
        image_size: the image side in pixels; margins scale with it.
    """
    if isinstance(query, AttributeRef):
        return group(query.what, objects)
    if isinstance(query, OrdinalRef):
        return _ordinal(query, objects, image_size)
    if isinstance(query, SuperlativeRef):
        return _superlative(query, objects, image_size)
    if isinstance(query, RelationRef):
        return _relation(query, objects, image_size)
    raise TypeError(f"not a query: {query!r}")


def refers_uniquely(
    query: Query, objects: Sequence[HasAttributes], target: int, image_size: int
) -> bool:
    """Whether ``query`` picks out exactly ``objects[target]`` and nothing else."""
    return resolve(query, objects, image_size) == [target]
