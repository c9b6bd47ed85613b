"""Scenes: determinism, masks, occlusion, held-out pairs, and the expressions of a scene."""

import numpy as np

from lgformer.data.synthetic import build_image, render_scene
from lgformer.data.synthetic.attributes import HELD_OUT_COMBOS
from lgformer.data.synthetic.contours import trace_loops
from lgformer.data.synthetic.expressions import resolve
from lgformer.data.synthetic.phrasing import parse
from lgformer.data.synthetic.scene import MIN_VISIBLE


def test_render_scene_is_deterministic():
    a_rgb, a_objs, a_expr = render_scene(7, 160)
    b_rgb, b_objs, b_expr = render_scene(7, 160)
    assert np.array_equal(a_rgb, b_rgb) and a_expr == b_expr
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(a_objs, b_objs))
    c_rgb, _, _ = render_scene(8, 160)
    assert not np.array_equal(a_rgb, c_rgb)


def test_render_scene_contract():
    rgb, objects, expressions = render_scene(3, 128)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
    assert 3 <= len(objects) <= 6
    assert expressions and all(0 <= i < len(objects) for _, i in expressions)
    for obj in objects:
        assert obj.mask.shape == (128, 128) and obj.mask.dtype == bool


def test_masks_are_visible_parts_and_expressions_unique():
    occluded = 0
    for seed in range(40):
        image = build_image(np.random.default_rng(seed), 160)
        objects = image.scene.objects
        covered = np.zeros((160, 160), bool)
        for obj in reversed(objects):  # top first
            assert np.array_equal(obj.mask, obj.full_mask & ~covered)
            assert obj.mask.sum() >= MIN_VISIBLE * obj.full_mask.sum()
            if obj.occluded:  # traced for its polygon: one piece, no hole
                assert len(trace_loops(obj.mask)) == 1
            covered |= obj.full_mask
            occluded += obj.occluded
            assert not obj.held_out
        for target in image.targets:
            assert len(set(target.sentences)) == len(target.sentences)
            for sentence in target.sentences:
                assert resolve(parse(sentence), objects, 160) == [target.index], sentence
    assert occluded > 5  # some scenes overlap


def test_held_out_scenes_refer_only_to_held_out_pairs():
    for seed in range(10):
        image = build_image(np.random.default_rng(seed), 160, num_held_out=2)
        assert sum(o.held_out for o in image.scene.objects) >= 2
        for target in image.targets:
            obj = image.scene.objects[target.index]
            assert (obj.colour, obj.shape) in HELD_OUT_COMBOS


def test_distractors_share_attributes():
    shared = total = 0
    for seed in range(30):
        objects = build_image(np.random.default_rng(seed), 160).scene.objects
        total += len(objects)
        for a in objects:
            others = [b for b in objects if b is not a]
            shared += any(a.colour == b.colour or a.shape == b.shape for b in others)
    assert shared > 0.7 * total
