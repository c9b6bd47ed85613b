import pytest

from tests.refer_fixtures import ReferFixture, build_refer


@pytest.fixture
def refcoco(tmp_path) -> ReferFixture:
    """The tiny REFER fixture under ``tmp_path / "data"``."""
    return build_refer(tmp_path / "data")
