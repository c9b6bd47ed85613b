from pathlib import Path

import pytest

from lgformer.data.synthetic import write_dataset


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A 6-image ``lgformer synth`` dataset (seed 5, 64 px), shared read-only by the tests
    that need real scenes with several categorised objects per image."""
    root = tmp_path_factory.mktemp("tiny_synthetic")
    write_dataset(root, 6, seed=5, image_size=64)
    return root
