import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared CPU: one thread is 10x faster than two competing ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
