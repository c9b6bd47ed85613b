import pytest
import yaml

from lgformer.engine.config import TrainConfig, load_train_config, parse_override
from lgformer.errors import LGFormerError


def test_defaults_are_the_released_recipe():
    cfg = TrainConfig()
    assert cfg.model.preset == "swin_base_w12"
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.epochs) == (5e-5, 1e-2, 40)
    assert (cfg.optim.batch_size, cfg.optim.precision, cfg.objective.pos_weight) == (
        16,
        "fp16",
        1.1,
    )
    assert cfg.data.image_size == 480 and not cfg.optim.train_bert_embeddings


def test_merge_order_defaults_file_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 5e-5\n  epochs: 3\ndata:\n  dataset: refcoco+\n")
    cfg = load_train_config(path, ["optim.epochs=7", "optim.grad_clip=1", "init.bert=minilm"])
    assert cfg.optim.lr == 5e-5 and isinstance(cfg.optim.lr, float)  # "5e-5" is a YAML string
    assert cfg.optim.epochs == 7 and cfg.optim.grad_clip == 1.0
    assert cfg.data.dataset == "refcoco+" and cfg.data.split_by == "unc"
    assert cfg.init.bert == "minilm"


def test_round_trip_through_yaml(tmp_path):
    cfg = load_train_config(None, ["model.overrides={text: {hidden_dropout_prob: 0.0}}"])
    cfg.save(tmp_path / "config.yaml")
    again = load_train_config(tmp_path / "config.yaml")
    assert again == cfg
    assert again.model.build().text.hidden_dropout_prob == 0.0
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["optim"]["betas"] == [0.9, 0.999]


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", "unknown config key"),
        ("optim.lr=abc", "expected a number"),
        ("optim.epochs=1.5", "expected an integer"),
        ("optim.precision=fp8", "precision"),
        ("model.preset=nope", "unknown preset"),
        ("model.overrides={swin: {depthz: 1}}", "bad model config"),
        ("noequals", "key=value"),
        # Numbers that used to fail mid-run (a ZeroDivisionError after the first step, a
        # PyTorch traceback) or to misbehave silently (a negative clip flips the gradients).
        ("output.log_every=0", "output.log_every must be >= 1"),
        ("output.checkpoint_every=-1", "output.checkpoint_every must be >= 0"),
        ("optim.max_bad_steps=0", "optim.max_bad_steps must be >= 1"),
        ("optim.lr=-1e-4", "optim.lr must be >= 0"),
        ("optim.lr=.nan", "optim.lr must be >= 0"),
        ("optim.weight_decay=-0.1", "optim.weight_decay must be >= 0"),
        ("optim.betas=[0.9, 1.0]", "optim.betas must be in"),
        ("optim.grad_clip=-1", "optim.grad_clip must be > 0"),
        ("data.image_size=0", "data.image_size must be >= 1"),
        ("data.num_workers=-1", "data.num_workers must be >= 0"),
        ("data.val_limit=0", "data.val_limit must be >= 1"),
        ("max_steps=0", "max_steps must be >= 1"),
        ("objective.category_warmup_steps=-1", "objective.category_warmup_steps must be >= 0"),
        ("data.root=[unclosed", r"--set data.root=\[unclosed: the value is not valid YAML"),
        ("data.root=@foo", r"cannot start any token at line 1, column 1\); quote strings"),
    ],
)
def test_bad_values_raise_clear_errors(override, message):
    with pytest.raises(LGFormerError, match=message):
        load_train_config(None, [override])


def test_parse_override_nested():
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}
    assert parse_override("init.swin=null") == {"init": {"swin": None}}


def test_unreadable_config_files_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data:\n  root: [data\noptim: {lr: 1}\n")
    with pytest.raises(LGFormerError, match=r"broken.yaml is not valid YAML: .* at line \d+"):
        load_train_config(broken)
    binary = tmp_path / "photo.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(LGFormerError, match="photo.png is not a text file"):
        load_train_config(binary)
    with pytest.raises(LGFormerError, match="is a directory: give a YAML file"):
        load_train_config(tmp_path)
