"""Instance-order labels: each object's rank from every side within every group it belongs to.

Ordinal sentences ("the second red circle from the right") ask for an object's
rank among the objects that share some attributes with it, counted from one
side of the image. These labels give every object that rank for every group and
side, so a trunk can be taught to count before (and while) it learns which
group and side a sentence names: the targets of the auxiliary instance-order
loss (``lgformer.engine.order_loss``), derived from ``instances.json`` alone.

Groups are the subsets of the objects' attributes: with the synthetic
benchmark's ``attributes`` field (shape, colour, size) the 8 subsets from "any
object" to all three; with plain COCO annotations the category alone (2
subsets: any object, same category). An object's rank from the left is one
plus the number of its group's members whose centre lies further left (so
rank 1 is the leftmost); ranks past ``ORDER_CLASSES - 1`` share the last class.
Centres are the synthetic ``attributes.centre`` (the whole shape's, as the
sentences use) or else the bounding box's.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np

ORDER_SIDES: tuple[str, ...] = ("left", "right", "top", "bottom")
ORDER_CLASSES = 4  # ranks 1, 2, 3, and 4 or later
SYNTHETIC_ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size")


def order_attributes(annotations: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The attribute names the groups are built from: the synthetic ones when every
    annotation has them, else ``("category",)``."""
    if annotations and all(
        isinstance(a.get("attributes"), dict)
        and all(k in a["attributes"] for k in (*SYNTHETIC_ATTRIBUTES, "centre"))
        for a in annotations
    ):
        return SYNTHETIC_ATTRIBUTES
    return ("category",)


def object_key(annotation: dict[str, Any], names: tuple[str, ...]) -> tuple[tuple, tuple]:
    """(attribute values, (cx, cy) centre) of one annotation, for ``names`` from
    ``order_attributes``."""
    if names == ("category",):
        x, y, w, h = (float(v) for v in annotation["bbox"])
        return (annotation["category_id"],), (x + w / 2, y + h / 2)
    attributes = annotation["attributes"]
    cx, cy = (float(v) for v in attributes["centre"])
    return tuple(attributes[n] for n in names), (cx, cy)


def num_order_tasks(num_attributes: int) -> int:
    """T: one task per attribute subset and side."""
    return (2**num_attributes) * len(ORDER_SIDES)


def attribute_subsets(num_attributes: int) -> list[tuple[bool, ...]]:
    """The 2^k attribute groups in task order: per subset, whether each attribute is used."""
    return list(product((False, True), repeat=num_attributes))


def rank_table(values: Sequence[tuple], centres: np.ndarray) -> np.ndarray:
    """(N, T) int64 rank classes of N objects.

    Args:
        values: per object, its attribute values (all of the same length k).
        centres: (N, 2) float (cx, cy) per object.

    Returns:
        Column ``subset * 4 + side`` (subsets in ``attribute_subsets(k)`` order, sides
        in ``ORDER_SIDES`` order) holds ``min(rank,
        ORDER_CLASSES) - 1`` of each object within the objects that share its values
        on that subset of attributes.
    """
    n = len(values)
    k = len(values[0]) if n else 0
    centres = np.asarray(centres, dtype=np.float64).reshape(n, 2)
    side_keys = np.stack([centres[:, 0], -centres[:, 0], centres[:, 1], -centres[:, 1]], 1)
    table = np.zeros((n, num_order_tasks(k)), np.int64)
    for s, subset in enumerate(attribute_subsets(k)):
        key = [tuple(v for v, used in zip(vals, subset, strict=True) if used) for vals in values]
        same = np.array([[a == b for b in key] for a in key], dtype=bool).reshape(n, n)
        for side in range(len(ORDER_SIDES)):
            ahead = side_keys[None, :, side] < side_keys[:, None, side]  # (N, N): j before i
            rank = 1 + (same & ahead).sum(1)
            table[:, s * len(ORDER_SIDES) + side] = np.minimum(rank, ORDER_CLASSES) - 1
    return table
