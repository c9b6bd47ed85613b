"""A run interrupted mid-epoch and resumed ends bitwise equal to an uninterrupted one."""

from lgformer.engine.checkpoint import load_checkpoint
from lgformer.engine.run import run_training

from .test_run_build_model import real_inits
from .tiny_data import assert_same_training_state, squares_factory, tiny_config

# Dropout in BERT and stochastic depth in Swin stay on: the RNG states must be restored too.
RANDOM_LAYERS = (
    "model.overrides={swin: {drop_path_rate: 0.2}, text: {hidden_dropout_prob: 0.1}}",
    "optim.epochs=2",
    "output.checkpoint_every=3",
)


def _state(path):
    return load_checkpoint(path)


def test_interrupted_runs_end_bitwise_equal(tmp_path):
    data = squares_factory(n_train=8, n_val=2, size=32)  # 4 iterations per epoch, 8 in all
    full = run_training(tiny_config(tmp_path / "full", *RANDOM_LAYERS), datasets=data)

    out = tmp_path / "parts"
    run_training(tiny_config(out, *RANDOM_LAYERS, "max_steps=3"), datasets=data)
    mid = _state(out / "last.pt")
    assert (mid["epoch"], mid["step_in_epoch"], mid["step"]) == (0, 3, 3)
    # Resumes by itself from last.pt; stops again mid-way through the second epoch.
    run_training(tiny_config(out, *RANDOM_LAYERS, "max_steps=6"), datasets=data)
    assert (_state(out / "last.pt")["epoch"], _state(out / "last.pt")["step_in_epoch"]) == (1, 2)
    resumed = run_training(tiny_config(out, *RANDOM_LAYERS), datasets=data)

    a, b = _state(tmp_path / "full" / "last.pt"), _state(out / "last.pt")
    assert a["step"] == 8
    assert_same_training_state(a, b)
    # The resumed pieces saw exactly the losses of the uninterrupted run's last steps.
    assert resumed.loss_history == full.loss_history[6:]
    assert (out / "best.pt").is_file()


def test_explicit_resume_path(tmp_path):
    data = squares_factory(n_train=4, n_val=0, size=32)
    cfg = tiny_config(tmp_path / "a", "optim.epochs=1", "validate=false")
    run_training(cfg, datasets=data)
    ckpt = tmp_path / "a" / "last.pt"
    cfg2 = tiny_config(tmp_path / "b", "optim.epochs=2", "validate=false")
    with_warning = run_training(cfg2, resume=ckpt, datasets=data)
    assert with_warning.position.step == 4 and with_warning.position.epoch == 2


def test_a_resumed_run_builds_its_model_from_the_checkpoint_alone(tmp_path, monkeypatch):
    data = squares_factory(n_train=4, n_val=0, size=32)
    calls = real_inits(monkeypatch)
    run_training(tiny_config(tmp_path, "optim.epochs=1", "validate=false"), datasets=data)
    assert calls  # a fresh run draws its initial weights
    calls.clear()
    resumed = run_training(tiny_config(tmp_path, "optim.epochs=2", "validate=false"), datasets=data)
    assert resumed.position.step == 4 and calls == []
    assert not any(t.is_meta for t in resumed.model.state_dict().values())
