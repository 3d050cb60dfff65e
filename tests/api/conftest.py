from __future__ import annotations

import pytest

from store.contract import Store
from tests.api.world import World, build_world

# WeasyPrint opens its sRGB ICC profile (PDF/A output intent) without closing it; the garbage
# collector closes it and pytest reports an unraisable ResourceWarning. Only that file is ignored.
PDF_ICC_WARNING = (
    "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/api/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings(PDF_ICC_WARNING))
            item.add_marker(pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"))


@pytest.fixture
def world(store: Store) -> World:
    """The API world on each backend."""
    return build_world(store)
