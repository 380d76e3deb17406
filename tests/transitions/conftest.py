"""Fixtures for the transition tests: a real store file with the small roster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from transition_fixture import open_store

from tierline.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store file (``transition_fixture.open_store``: two CSMs and a manager), closed
    after the test."""
    with open_store(tmp_path) as s:
        yield s
