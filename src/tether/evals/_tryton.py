"""Tryton as a scenario's system: a fresh database and server for every trial.

For a configuration with a ``tryton`` connector, each trial copies the demo template
into a new database (``tether.connectors.tryton.LocalTryton``), starts trytond on it,
creates the scenario's records, and runs under a copy of the configuration whose
Tryton connectors point at that server. Needs ``tether[tryton]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tether.connectors.tryton import default_template_dir
from tether.evals._scenario import TrytonQuery, TrytonState

PASSWORD_ENV = "TETHER_EVAL_TRYTON_PASSWORD"


class TrytonTrial:
    """One trial's Tryton: its database, its server, a client, and the configuration."""

    def __init__(self, folder: Path, original_config: Path, state: TrytonState | None) -> None:
        from tether.connectors.tryton import LocalTryton, TrytonClient

        templates = default_template_dir()
        self.local = LocalTryton(folder / "tryton", template_dir=templates)
        self.local.ensure_template()
        self.database = self.local.create_database()
        self.config_file: Path | None = None
        self.server = self.local.start(self.database)
        try:
            os.environ[PASSWORD_ENV] = self.local.admin_password
            self.client = TrytonClient(
                url=self.server.url,
                database=self.database,
                username="admin",
                password=self.local.admin_password,
            )
            for record in state.records if state else []:
                self.client.call(f"model.{record.model}.create", [[record.values]])
            self.config_file = self._config(folder, original_config)
        except BaseException:
            self.close()
            raise

    def _config(self, folder: Path, original: Path) -> Path:
        data: dict[str, Any] = yaml.safe_load(original.read_text(encoding="utf-8"))
        base = original.parent.resolve()
        data["policy"] = str(base / data["policy"])
        data["agents"] = [str(base / agent) for agent in data["agents"]]
        for connector in data.get("connectors", []):
            settings = connector.setdefault("settings", {})
            settings.setdefault("base_dir", str(base))
            if connector.get("type") == "tryton":
                settings.update(
                    url=self.server.url, database=self.database, password_env=PASSWORD_ENV
                )
        path = folder / f"tether-{self.database}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    @property
    def config(self) -> Path:
        if self.config_file is None:
            raise RuntimeError("the trial's Tryton is closed")
        return self.config_file

    def count(self, query: TrytonQuery) -> int:
        return int(self.client.call(f"model.{query.model}.search_count", [query.domain]))

    def close(self) -> None:
        self.server.stop()
        self.local.drop_database(self.database)
        if self.config_file is not None:
            self.config_file.unlink(missing_ok=True)
