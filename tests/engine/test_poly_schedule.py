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
