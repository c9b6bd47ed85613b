"""A synthetic referring benchmark: shapes on textured backgrounds, in the REFER format.

Scenes hold 3-6 objects (5 shapes, 6 colours, 2 sizes), some overlapping;
sentences use attributes, order, superlatives and relations, each verified to
refer to exactly one object. ``render_scene`` makes one scene for demos;
``write_dataset`` writes a whole dataset (``lgformer synth``).
"""

from lgformer.data.synthetic.build import (
    ReferringTarget,
    SyntheticImage,
    build_image,
    render_scene,
)
from lgformer.data.synthetic.scene import Scene, SceneObject
from lgformer.data.synthetic.writer import DATASET, IMAGE_DIR, SPLIT_BY, write_dataset

__all__ = [
    "DATASET",
    "IMAGE_DIR",
    "SPLIT_BY",
    "ReferringTarget",
    "Scene",
    "SceneObject",
    "SyntheticImage",
    "build_image",
    "render_scene",
    "write_dataset",
]
