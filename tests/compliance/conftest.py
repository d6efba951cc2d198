"""The demo company's configuration, written as `tether demo` writes it (its Tryton and
outbox are started only by what calls their tools)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.demo._company import Company
from tether.demo._story import write_config


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    pytest.importorskip("trytond", reason="the demo company lives in Tryton: tether[tryton]")
    state = tmp_path / "demo"
    state.mkdir()
    company = Company(
        tryton_state=state / "tryton",
        tryton_port=1,
        inbox=state / "inbox",
        outbox=state / "outbox",
        smtp_port=1,
    )
    return write_config(state, company)
