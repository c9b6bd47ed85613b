"""The attribute vocabulary of the synthetic scenes: shapes, colours, sizes.

Sizes are area-equivalent radii (the radius of the circle with the same area)
as fractions of the image side, so "small" and "large" mean the same thing for
every shape. The two classes are far apart (areas differ by at least 1.8x) so
that the size words are never borderline.
"""

from __future__ import annotations

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon")

# Saturated base colours; backgrounds are muted greys so they never read as one of these.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 38, 38),
    "green": (34, 164, 60),
    "blue": (40, 84, 222),
    "yellow": (236, 212, 36),
    "purple": (138, 56, 184),
    "orange": (246, 136, 24),
}

SIZES: tuple[str, ...] = ("small", "large")

# Area-equivalent radius range per size class, as a fraction of the image side.
SIZE_RADIUS: dict[str, tuple[float, float]] = {
    "small": (0.055, 0.07),
    "large": (0.095, 0.12),
}

# The words a sentence may use for each size class.
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little"),
    "large": ("large", "big"),
}

# Nouns for "any shape"; "one" needs an attribute before it ("the red one").
GENERIC_NOUNS: tuple[str, ...] = ("object", "shape", "one")

# (colour, shape) pairs that never appear in train, val or testA images: testB
# refers only to objects of these pairs, so it measures whether the model
# composes a colour and a shape it has only seen apart. Every colour but orange
# and every shape is held out once, so each word is still seen in training.
HELD_OUT_COMBOS: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "triangle"),
        ("green", "circle"),
        ("blue", "star"),
        ("yellow", "square"),
        ("purple", "hexagon"),
    }
)


def is_held_out(colour: str, shape: str) -> bool:
    """Whether ``colour`` + ``shape`` is one of the testB-only combinations."""
    return (colour, shape) in HELD_OUT_COMBOS


def combos(*, held_out: bool) -> list[tuple[str, str]]:
    """The (colour, shape) pairs held out (``True``) or not (``False``), in a fixed order."""
    return [(c, s) for c in COLOURS for s in SHAPES if is_held_out(c, s) == held_out]
