"""Ctrl-C and SIGTERM: the run finishes its step, saves it to last.pt and stops; a
resumed run then ends bitwise equal to an uninterrupted one. A second signal aborts."""

import os
import signal
import threading

import pytest
import torch

from lgformer.cli import main
from lgformer.engine import run as run_module
from lgformer.engine.checkpoint import load_checkpoint
from lgformer.engine.run import run_training
from lgformer.engine.stop_signals import StopSignals, TrainingInterrupted

from .tiny_data import assert_same_training_state, signalling, squares_factory, tiny_config

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Dropout in BERT and stochastic depth in Swin on: the RNG states must be restored too.
RANDOM_LAYERS = (
    "model.overrides={swin: {drop_path_rate: 0.2}, text: {hidden_dropout_prob: 0.1}}",
    "optim.epochs=2",
)


class SignalEscaped(Exception):
    """A signal reached the handler the test had installed before training."""


def _escaped(signum, frame):
    raise SignalEscaped(signal.Signals(signum).name)


@pytest.fixture(autouse=True)
def python_default_handlers():
    """Every test starts from Python's own handlers (KeyboardInterrupt for SIGINT, the
    default for SIGTERM): pytest started in the background by a shell without job
    control inherits SIGINT ignored, which the trainer rightly leaves alone."""
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.fixture
def test_handlers():
    """Handlers that fail the test, instead of killing pytest (SIGTERM) or stopping the
    session (SIGINT), when a signal gets past the trainer; the originals come back after."""
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _escaped)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def _position(path):
    ckpt = load_checkpoint(path)
    return ckpt["epoch"], ckpt["step_in_epoch"], ckpt["step"]


def test_signals_save_the_step_and_the_resumed_run_is_exact(tmp_path, test_handlers, capfd):
    data = squares_factory(n_train=8, n_val=2, size=32)  # 4 iterations per epoch, 8 in all
    full = run_training(tiny_config(tmp_path / "full", *RANDOM_LAYERS), datasets=data)

    out = tmp_path / "parts"
    cfg = tiny_config(out, *RANDOM_LAYERS)  # checkpoint_every: 0, epoch ends only
    # Item 3 is loaded for step 2 (batch 2): Ctrl-C while it runs.
    with pytest.raises(TrainingInterrupted) as stop:
        run_training(cfg, datasets=signalling(data, {3: [signal.SIGINT]}))
    assert (stop.value.signum, stop.value.exit_code, stop.value.step) == (signal.SIGINT, 130, 2)
    assert _position(out / "last.pt") == (0, 2, 2)
    assert all(signal.getsignal(signum) is _escaped for signum in SIGNALS)  # restored
    logs = capfd.readouterr()
    assert "SIGINT received: stopping after this step" in logs.err
    assert "stopped by SIGINT at step 2 (epoch 1, batch 2/4)" in logs.out
    assert f"saved in {out / 'last.pt'}. To continue from there, launch again" in logs.out

    # Resumed; SIGTERM during step 4, the last of epoch 1: it stops before validating.
    with pytest.raises(TrainingInterrupted) as stop:
        run_training(cfg, datasets=signalling(data, {3: [signal.SIGTERM]}))
    assert (stop.value.signum, stop.value.exit_code, stop.value.step) == (signal.SIGTERM, 143, 4)
    assert _position(out / "last.pt") == (0, 4, 4)
    assert load_checkpoint(out / "last.pt")["metrics"] == {} and not (out / "best.pt").exists()
    assert "stopped by SIGTERM at step 4 (end of epoch 1, before" in capfd.readouterr().out

    resumed = run_training(cfg, datasets=data)  # validates epoch 1, then trains epoch 2
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(out / "last.pt")
    assert a["step"] == 8
    assert_same_training_state(a, b)
    assert resumed.loss_history == full.loss_history[4:]
    best_a = load_checkpoint(tmp_path / "full" / "best.pt")
    best_b = load_checkpoint(out / "best.pt")
    assert best_a["step"] == best_b["step"] and best_a["metrics"] == best_b["metrics"]


def test_a_mid_epoch_checkpoint_at_the_same_step_is_not_written_twice(tmp_path, monkeypatch):
    data = squares_factory(n_train=8, n_val=0, size=32)
    cfg = tiny_config(tmp_path, "validate=false", "output.checkpoint_every=2")
    saves = []
    real_save = run_module.Trainer.save

    def save(self, name, **kwargs):
        saves.append((name, self.position.step))
        return real_save(self, name, **kwargs)

    monkeypatch.setattr(run_module.Trainer, "save", save)
    with pytest.raises(TrainingInterrupted):
        run_training(cfg, datasets=signalling(data, {3: [signal.SIGINT]}))
    assert saves == [("last.pt", 2)]


def test_a_second_signal_aborts_at_once(tmp_path, monkeypatch, capfd):
    """Two Ctrl-C before the step ends: the previous handler (KeyboardInterrupt) runs at
    once and nothing is saved; the handlers are back as they were."""
    monkeypatch.setattr(StopSignals, "REPEAT_AFTER_S", 0.0)  # no copy window
    data = squares_factory(n_train=8, n_val=0, size=32)
    cfg = tiny_config(tmp_path, "validate=false")
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as err:
        run_training(cfg, datasets=signalling(data, {3: [signal.SIGINT, signal.SIGINT]}))
    assert type(err.value) is KeyboardInterrupt  # not TrainingInterrupted
    assert not (tmp_path / "last.pt").exists()
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopped by" not in capfd.readouterr().out


def test_a_signal_delivered_twice_at_once_is_one_stop(test_handlers):
    """Slurm signals every process and torchrun forwards its own: a worker gets the same
    SIGTERM twice within milliseconds, which must not abort the save."""
    with StopSignals(announce=False) as stop:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
        assert stop.received == signal.SIGTERM
        stop._received_at -= StopSignals.REPEAT_AFTER_S  # later: a real second signal
        with pytest.raises(SignalEscaped, match="SIGTERM"):  # the previous handler ran
            signal.raise_signal(signal.SIGTERM)
    assert all(signal.getsignal(signum) is _escaped for signum in SIGNALS)


def test_loader_workers_survive_signals_meant_for_the_whole_group(tmp_path, test_handlers):
    """A scheduler's SIGTERM to every process reaches the DataLoader workers too; a dead
    worker would make PyTorch raise in the middle of the step, before any save."""
    data = squares_factory(n_train=16, n_val=0, size=32)
    cfg = tiny_config(tmp_path, "validate=false", "data.num_workers=1")

    def factory(cfg, max_words):
        train, val, collate_fn = data(cfg, max_words)
        return GroupSignal(train), val, collate_fn

    with pytest.raises(TrainingInterrupted) as stop:
        run_training(cfg, datasets=factory)
    assert stop.value.signum in SIGNALS  # both arrive together, one is handled first
    assert load_checkpoint(tmp_path / "last.pt")["step"] == stop.value.step >= 1


def test_validation_workers_survive_signals_meant_for_the_whole_group(tmp_path, test_handlers):
    """The same signal during validation: its loader workers live on, validation ends,
    and the run stops at the epoch boundary with last.pt saved there."""
    data = squares_factory(n_train=8, n_val=8, size=32)
    cfg = tiny_config(tmp_path, "optim.epochs=2", "data.num_workers=1")

    def factory(cfg, max_words):
        train, val, collate_fn = data(cfg, max_words)
        return train, GroupSignal(val), collate_fn

    with pytest.raises(TrainingInterrupted) as stop:
        run_training(cfg, datasets=factory)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == stop.value.step >= 1 and saved["epoch"] == 1
    assert "overall_iou" in saved["metrics"]  # the validation finished


@pytest.mark.parametrize("validating", [False, True])
def test_a_signal_while_loader_workers_start_stops_the_run_cleanly(
    tmp_path, test_handlers, monkeypatch, validating
):
    """PyTorch's own SIGTERM handler ends a worker until ``worker_signals`` takes over: a
    signal to the whole group in that window must neither kill the worker (PyTorch would
    raise in the trainer, nothing saved) nor be lost for the trainer."""
    from lgformer.engine import stop_signals
    from lgformer.engine.stop_signals import worker_signals

    starts = tmp_path / "worker_starts"  # workers are processes: count in a file
    starts.mkdir()

    def signalled_while_starting(worker_id):
        (starts / str(len(list(starts.iterdir())))).touch()
        first_validation_worker = 1  # epoch 1's training worker is the first one
        if len(list(starts.iterdir())) - 1 == (first_validation_worker if validating else 0):
            for pid in (os.getpid(), os.getppid()):
                os.kill(pid, signal.SIGTERM)
        worker_signals(worker_id)

    monkeypatch.setattr(stop_signals, "worker_signals", signalled_while_starting)
    data = squares_factory(n_train=8, n_val=8, size=32)
    cfg = tiny_config(tmp_path, "optim.epochs=2", "data.num_workers=1")
    with pytest.raises(TrainingInterrupted) as stop:
        run_training(cfg, datasets=data)
    assert stop.value.signum == signal.SIGTERM
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == stop.value.step >= 1
    if validating:  # the validation ran to its end, and the run stopped at the boundary
        assert saved["epoch"] == 1 and "overall_iou" in saved["metrics"]


class GroupSignal(torch.utils.data.Dataset):
    """Its worker, at item 3, sends SIGINT and SIGTERM to itself and its parent (the
    training process), as a signal to the whole process group would."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.loaded = 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.loaded += 1
        if self.loaded == 3:
            for pid in (os.getpid(), os.getppid()):
                for signum in SIGNALS:
                    os.kill(pid, signum)
        return self.dataset[index]


def test_handlers_are_restored_and_left_alone_where_they_must_be():
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignored, e.g. by a launcher: stays so
    try:
        with StopSignals(announce=False) as stop:
            assert signal.getsignal(signal.SIGINT) == stop._handle
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            assert stop.received == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) is before[signal.SIGINT]
    finally:
        signal.signal(signal.SIGTERM, before[signal.SIGTERM])

    # A process forked inside (a loader worker) inherits the handler, which ignores it there.
    with StopSignals(announce=False) as stop:
        pid = os.fork()
        if pid == 0:
            try:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)
                os._exit(0 if stop.received == 0 else 1)
            finally:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert stop.received == 0
    assert os.waitstatus_to_exitcode(status) == 0

    # Python allows handlers only in the main thread: elsewhere none are installed.
    seen = []

    def in_thread():
        with StopSignals(announce=False):
            seen.append({signum: signal.getsignal(signum) for signum in SIGNALS})

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [before]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_cli_exits_with_the_signal_status(monkeypatch, signum, code):
    def stopped(cfg, **kwargs):
        raise TrainingInterrupted("stopped", signum=signum, step=3)

    monkeypatch.setattr(run_module, "run_training", stopped)
    assert main(["train", "--set", "device=cpu"]) == code
