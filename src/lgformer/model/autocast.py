"""Whether autocast is on, on every torch version the package supports."""

from __future__ import annotations

import torch


def autocast_enabled(device_type: str) -> bool:
    """True inside ``torch.autocast(device_type)`` (``"cpu"`` or ``"cuda"``)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no argument, and it means CUDA
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled()
        return torch.is_autocast_enabled()
