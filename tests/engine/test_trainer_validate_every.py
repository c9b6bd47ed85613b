"""validate_every: validation after every n-th epoch and the last; best.pt follows it."""

import pytest

from lgformer.engine.run import run_training
from lgformer.engine.trainer import Trainer
from lgformer.errors import LGFormerError
from tests.engine.tiny_data import squares_factory, tiny_config


def test_only_every_nth_and_the_last_epoch_are_validated(tmp_path, monkeypatch) -> None:
    data = squares_factory(n_train=4, n_val=2, size=32)
    validated = []
    real = Trainer._validate

    def spy(self) -> None:
        validated.append(self.position.epoch + 1)
        real(self)

    monkeypatch.setattr(Trainer, "_validate", spy)
    cfg = tiny_config(tmp_path, "optim.epochs=5", "validate_every=2")
    trainer = run_training(cfg, datasets=data)
    assert validated == [2, 4, 5]
    assert trainer.position.epoch == 5 and "overall_iou" in trainer.metrics
    assert (tmp_path / "best.pt").is_file()
    with pytest.raises(LGFormerError, match="validate_every must be >= 1"):
        tiny_config(tmp_path, "validate_every=0")
