"""Training: config, loss, optimizer, schedule, checkpoints, distributed helpers, the loop."""

from lgformer.engine.config import TrainConfig, load_train_config
from lgformer.engine.divergence import TrainingDivergedError
from lgformer.engine.loss import deep_supervision_loss
from lgformer.engine.optimizer import build_optimizer, parameter_groups
from lgformer.engine.schedule import PolySchedule, poly_factor
from lgformer.engine.trainer import Trainer

__all__ = [
    "PolySchedule",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "build_optimizer",
    "deep_supervision_loss",
    "load_train_config",
    "parameter_groups",
    "poly_factor",
]
