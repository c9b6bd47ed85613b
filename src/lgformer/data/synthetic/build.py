"""One synthetic image end to end: scene, referring expressions, pixels.

``render_scene(seed)`` is the entry point for demos; the dataset writer calls
``build_image`` with one random generator per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgformer.data.synthetic.expressions import SceneIndex
from lgformer.data.synthetic.generate import referring_expressions
from lgformer.data.synthetic.render import paint_scene
from lgformer.data.synthetic.scene import Scene, SceneObject, sample_scene

MIN_OBJECTS = 3
SCENE_TRIES = 50


@dataclass
class ReferringTarget:
    """A referred object: its index in the scene and its sentences (each unique to it)."""

    index: int
    sentences: list[str]
    kinds: list[str]  # "attribute", "ordinal", "superlative" or "relation", per sentence


@dataclass
class SyntheticImage:
    """An image with its scene and its referred objects.

    Attributes:
        rgb: (H, W, 3) uint8.
        scene: the objects with their masks.
        targets: the referred objects; in a testB image only the held-out pairs.
    """

    rgb: np.ndarray
    scene: Scene
    targets: list[ReferringTarget]


def build_image(
    rng: np.random.Generator,
    image_size: int,
    *,
    num_held_out: int = 0,
    sentences_per_target: int = 3,
) -> SyntheticImage:
    """Sample a scene with at least 3 objects and one referred target, then paint it.

    Args:
        rng: the only source of randomness.
        image_size: image side in pixels.
        num_held_out: at least this many objects of testB-only colour+shape
            pairs; when positive, only such objects are referred to (a testB image).
        sentences_per_target: at most this many sentences per target.
    """
    for _ in range(SCENE_TRIES):
        scene = sample_scene(rng, image_size, num_held_out=num_held_out)
        objects = scene.objects
        if len(objects) < MIN_OBJECTS:
            continue
        if num_held_out and sum(o.held_out for o in objects) < num_held_out:
            continue
        targets = []
        index = SceneIndex(objects)
        for i, obj in enumerate(objects):
            if obj.held_out != bool(num_held_out):
                continue
            chosen = referring_expressions(index, i, image_size, rng, count=sentences_per_target)
            if chosen:
                texts, kinds = zip(*chosen, strict=True)
                targets.append(ReferringTarget(i, list(texts), list(kinds)))
        if targets:
            return SyntheticImage(paint_scene(rng, scene), scene, targets)
    raise RuntimeError(f"no valid scene in {SCENE_TRIES} tries at image size {image_size}")


def render_scene(
    seed: int, image_size: int = 160
) -> tuple[np.ndarray, list[SceneObject], list[tuple[str, int]]]:
    """A fresh scene of the training distribution, for demos.

    Returns:
        rgb: (H, W, 3) uint8 image.
        objects: the scene's objects; ``objects[i].mask`` is the (H, W) bool
            visible mask, the ground truth of any expression about object i.
        expressions: (sentence, object index) pairs, every sentence unique to its object.
    """
    image = build_image(np.random.default_rng(seed), image_size)
    pairs = [(s, t.index) for t in image.targets for s in t.sentences]
    return image.rgb, image.scene.objects, pairs
