"""The CLI's one-line errors, also for an error raised inside a DataLoader worker."""

import pytest
import torch

from lgformer.cli import user_message
from lgformer.errors import CheckpointMismatchError, LGFormerError


class _Unreadable(torch.utils.data.Dataset):
    def __init__(self, error: LGFormerError):
        self.error = error

    def __len__(self):
        return 2

    def __getitem__(self, index):
        raise self.error


@pytest.mark.parametrize("error_type", [LGFormerError, CheckpointMismatchError])
def test_an_error_from_a_loader_worker_is_its_own_message(error_type):
    """PyTorch re-raises a worker's error with the worker's whole traceback as its text."""
    message = "cannot read image data/images/17.jpg: Truncated File Read"
    loader = torch.utils.data.DataLoader(_Unreadable(error_type(message)), num_workers=1)
    with pytest.raises(error_type) as raised:
        next(iter(loader))
    assert "Original Traceback" in str(raised.value)  # what the CLI used to print whole
    assert user_message(raised.value) == message


def test_other_errors_are_printed_as_they_are():
    err = LGFormerError("config file not found: x.yaml")
    assert user_message(err) == "config file not found: x.yaml"
