import warnings

import pytest

from lgformer.data.refer import ReferSplit, load_refer


@pytest.fixture
def test_split(refcoco) -> ReferSplit:
    """The 7 sentences of refs 5-9 (testA, testB, testAB, test, testC)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one fixture sentence is truncated on purpose
        return load_refer(refcoco.root, "refcoco", "unc", "test")
