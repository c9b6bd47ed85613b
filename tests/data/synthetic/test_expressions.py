"""The meaning of expressions: resolver margins and the text <-> query round trip."""

from dataclasses import dataclass

import numpy as np
import pytest

from lgformer.data.synthetic.expressions import (
    AttributeRef,
    Descriptor,
    OrdinalRef,
    RelationRef,
    SceneIndex,
    SuperlativeRef,
    resolve,
)
from lgformer.data.synthetic.generate import candidate_queries
from lgformer.data.synthetic.phrasing import parse, to_text
from lgformer.data.synthetic.scene import sample_scene

SIZE = 100  # margins: order 5 px, relation 6 px


@dataclass
class Obj:
    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    area: float = 100.0


CIRCLE = Descriptor(shape="circle")


def test_attribute():
    objs = [Obj("circle", "red", "small", 10, 10), Obj("circle", "blue", "small", 50, 10)]
    assert resolve(AttributeRef(Descriptor(colour="red")), objs, SIZE) == [0]
    assert resolve(AttributeRef(CIRCLE), objs, SIZE) == [0, 1]


def test_ordinal_needs_clear_gaps_around_the_rank():
    objs = [
        Obj("circle", "red", "small", 10, 10),
        Obj("circle", "red", "small", 13, 50),  # 3 px right of the first: order unclear
        Obj("circle", "red", "small", 60, 10),
    ]
    assert resolve(OrdinalRef(CIRCLE, 1, "left"), objs, SIZE) is None
    assert resolve(OrdinalRef(CIRCLE, 3, "left"), objs, SIZE) == [2]
    assert resolve(OrdinalRef(CIRCLE, 1, "right"), objs, SIZE) == [2]
    assert resolve(OrdinalRef(CIRCLE, 1, "top"), objs, SIZE) is None  # 0 and 2 share cy
    assert resolve(OrdinalRef(CIRCLE, 1, "bottom"), objs, SIZE) == [1]
    assert resolve(OrdinalRef(CIRCLE, 4, "left"), objs, SIZE) == []


def test_superlative_needs_a_clear_ratio():
    objs = [Obj("circle", "red", "large", 10, 10, 500.0), Obj("star", "red", "large", 50, 10, 420)]
    assert resolve(SuperlativeRef(Descriptor(), "largest"), objs, SIZE) is None
    objs[1].area = 300.0
    assert resolve(SuperlativeRef(Descriptor(), "largest"), objs, SIZE) == [0]
    assert resolve(SuperlativeRef(Descriptor(), "smallest"), objs, SIZE) == [1]


def test_relation_margins_and_landmark():
    objs = [
        Obj("square", "red", "small", 50, 50),  # landmark
        Obj("circle", "blue", "small", 30, 50),  # clearly left of it
        Obj("circle", "green", "small", 70, 20),  # clearly right
    ]
    left_of_red = RelationRef(CIRCLE, "left", Descriptor(colour="red"))
    assert resolve(left_of_red, objs, SIZE) == [1]
    assert resolve(RelationRef(CIRCLE, "above", Descriptor(colour="red")), objs, SIZE) == [2]
    objs[2].cx = 47  # 3 px left of the landmark: neither clearly left nor clearly not
    assert resolve(left_of_red, objs, SIZE) is None
    objs.append(Obj("square", "red", "large", 90, 90))  # the landmark is no longer unique
    assert resolve(RelationRef(CIRCLE, "left", Descriptor(colour="red")), objs, SIZE) is None


@pytest.mark.parametrize(
    "text",
    [
        "the small green triangle",
        "the red one",
        "the second circle from the right",
        "the leftmost big object",
        "the lowest purple shape",
        "the biggest star",
        "the square to the left of the red circle",
        "the little one beneath the yellow hexagon",
    ],
)
def test_parse_then_text_reads_the_same(text):
    query = parse(text)
    rng = np.random.default_rng(0)
    assert parse(to_text(query, rng)) == query


@pytest.mark.parametrize("text", ["a red circle", "the one", "the largest small circle", "the"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        parse(text)


def test_every_candidate_round_trips_through_text():
    rng = np.random.default_rng(1)
    for _ in range(15):
        scene = sample_scene(rng, 160)
        index = SceneIndex(scene.objects)
        for target in range(len(scene.objects)):
            for queries in candidate_queries(index, target, 160, rng).values():
                for query in queries:
                    text = to_text(query, rng)
                    assert parse(text) == query, text
                    assert resolve(parse(text), scene.objects, 160) == [target], text
