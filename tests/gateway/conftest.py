from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.harness import Running, serving, write_config


@pytest.fixture
def gateway(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    with serving(write_config(tmp_path / "desk", database=sqlite_url)) as running:
        yield running
