import pytest
import torch

from lgformer.engine.schedule import PolySchedule, poly_factor


def test_poly_factor_values():
    assert poly_factor(0, 100) == 1.0
    assert poly_factor(50, 100) == pytest.approx(0.5**0.9)
    assert poly_factor(99, 100) == pytest.approx(0.01**0.9)
    assert poly_factor(100, 100) == 0.0 and poly_factor(150, 100) == 0.0
    assert poly_factor(25, 100, power=1.0) == pytest.approx(0.75)


def _optimizer():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.AdamW([{"params": [a]}, {"params": [b], "lr": 1e-3}], lr=5e-5)


def test_schedule_per_iteration_and_per_group():
    opt = _optimizer()
    sched = PolySchedule(opt, total_iters=10, power=0.9)
    assert sched.get_last_lr() == [5e-5, 1e-3]
    for it in range(1, 11):
        sched.step()
        factor = (1 - it / 10) ** 0.9
        assert sched.get_last_lr() == pytest.approx([5e-5 * factor, 1e-3 * factor])
    assert sched.get_last_lr() == [0.0, 0.0]


def test_state_dict_round_trip():
    opt = _optimizer()
    sched = PolySchedule(opt, total_iters=40)
    for _ in range(7):
        sched.step()
    fresh_opt = _optimizer()
    fresh = PolySchedule(fresh_opt, total_iters=40)
    fresh.load_state_dict(sched.state_dict())
    assert fresh.iteration == 7 and fresh.get_last_lr() == sched.get_last_lr()
    with pytest.warns(UserWarning, match="schedule changed"):
        PolySchedule(_optimizer(), total_iters=80).load_state_dict(sched.state_dict())


def test_hold_keeps_the_base_lr_then_decays_over_the_rest():
    opt = _optimizer()
    sched = PolySchedule(opt, total_iters=10, power=1.0, hold=4)
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[1])
        sched.step()
    assert lrs[:5] == [1e-3] * 5  # iterations 0-3 held, 4 starts the curve at factor 1
    assert lrs[5:] == pytest.approx([1e-3 * (1 - k / 6) for k in range(1, 6)])
    assert sched.get_last_lr() == [0.0, 0.0]
    with pytest.raises(ValueError, match="hold"):
        PolySchedule(_optimizer(), total_iters=4, hold=4)
    with pytest.warns(UserWarning, match="hold 4"):
        PolySchedule(_optimizer(), total_iters=10, power=1.0).load_state_dict(sched.state_dict())
