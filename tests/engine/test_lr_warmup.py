"""optim.lr_warmup_steps in the trainer: the schedule gets the ramp, bad values fail."""

import pytest

from lgformer.engine.run import run_training
from lgformer.errors import LGFormerError
from tests.engine.tiny_data import squares_factory, tiny_config


def test_trainer_ramps_the_lr(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=0, size=32)
    cfg = tiny_config(
        tmp_path,
        "optim.epochs=2",  # 4 steps per epoch at batch 2
        "optim.lr_warmup_steps=3",
        "optim.poly_power=1.0",
        "validate=false",
    )
    seen = []
    trainer = run_training(cfg, datasets=data)
    sched = trainer.scheduler
    assert (sched.hold, sched.warmup, sched.iteration) == (0, 3, 8)
    for iteration in range(8):  # the lr each of the 8 steps ran with
        sched.iteration = iteration
        sched._apply()
        seen.append(sched.get_last_lr()[0] / 1e-3)
    expected = [(1 - k / 8) * min(1.0, (k + 1) / 4) for k in range(8)]
    assert seen == pytest.approx(expected)
    assert seen[0] < seen[1] < seen[2] < seen[3] > seen[4]


def test_lr_warmup_must_fit_the_referring_steps(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=0, size=32)
    cfg = tiny_config(tmp_path, "optim.epochs=2", "optim.lr_warmup_steps=8", "validate=false")
    with pytest.raises(LGFormerError, match="lr_warmup_steps=8 must be below"):
        run_training(cfg, datasets=data)
    with pytest.raises(LGFormerError, match=">= 0"):
        tiny_config(tmp_path, "optim.lr_warmup_steps=-1")
