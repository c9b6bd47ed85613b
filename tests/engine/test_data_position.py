"""data.Position: where a run is, in words and in a checkpoint; training_order's checks."""

from __future__ import annotations

import pytest

from lgformer.engine.data import Position, training_order
from lgformer.errors import LGFormerError


def test_a_position_in_words_and_in_a_checkpoint():
    sampler, at = training_order(10, 4, world_size=2, rank=1, seed=3)
    assert (at.iters_per_epoch, at.batch_size) == (2, 2)
    assert at.words() == "start of epoch 1"
    at.advance()
    assert at.words() == "epoch 1, batch 1/2" and at.mid_epoch and at.consumed == 2
    at.advance()
    assert at.words() == "end of epoch 1, before its validation and epoch checkpoint"
    state = at.state_dict(sampler)
    assert state["sampler"] == {
        "seed": 3, "epoch": 0, "consumed": 4, "world_size": 2, "num_samples": 10
    }  # fmt: skip
    at.next_epoch()
    again = Position(2, 2)
    again.load_state_dict(at.state_dict(sampler))
    assert again == at and (at.epoch, at.step_in_epoch, at.step) == (1, 0, 2)


def test_training_order_refuses_batches_that_do_not_fit():
    with pytest.raises(LGFormerError, match=r"optim.batch_size=3 \(total\) must be a multiple"):
        training_order(10, 3, world_size=2, rank=0, seed=0)
    with pytest.raises(LGFormerError, match="the training set has 3 samples, fewer than one"):
        training_order(3, 4, world_size=1, rank=0, seed=0)
