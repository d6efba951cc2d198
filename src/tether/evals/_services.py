"""The local stand-ins of a trial's REST services and mail, and the configuration's copy
that points the scenario's connectors at them.

One :class:`LocalServices` per runner process: its servers start when a scenario first
needs them and are reset before every trial, so the copy of ``tether.yaml`` (and the
runtime built from it) stays the same from trial to trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tether.evals._load import Scenario
from tether.evals._mail import MailSystem
from tether.evals._rest import RestServer, connector_services
from tether.evals._scenario import RestFixture, RestQuery

_SMTP_LOGIN = ("username", "password_env", "tls_ca_file")
_IMAP = ("imap_host", "imap_port", "imap_security", "imap_username", "imap_password_env")


class LocalServices:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rest: RestServer | None = None
        self.mail: MailSystem | None = None
        self._configs: dict[tuple[Path, tuple[str, ...], bool, bool], Path] = {}

    def config(self, scenario: Scenario) -> Path:
        """The configuration the trial runs under: the scenario's own, or a copy whose
        REST and email connectors point here."""
        email = scenario.email_sender is not None
        if not scenario.rest_services and not email:
            return scenario.config
        inbox = scenario.spec.state.mailbox is not None
        key = (scenario.config, scenario.rest_services, email, inbox)
        if key not in self._configs:
            path = self.folder / f"tether-services-{len(self._configs) + 1}.yaml"
            path.write_text(yaml.safe_dump(self._copy(*key)), encoding="utf-8")
            self._configs[key] = path
        return self._configs[key]

    def _copy(
        self, original: Path, services: tuple[str, ...], email: bool, inbox: bool
    ) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(original.read_text(encoding="utf-8"))
        base = original.parent.resolve()
        data["policy"] = str(base / data["policy"])
        data["agents"] = [str(base / agent) for agent in data["agents"]]
        connectors: list[dict[str, Any]] = data.get("connectors") or []
        names = connector_services(
            (str(item.get("type")), item.get("settings") or {}) for item in connectors
        )
        for connector, name in zip(connectors, names, strict=True):
            settings = connector.setdefault("settings", {}) or {}
            connector["settings"] = settings
            settings.setdefault("base_dir", str(base))
            if name and name in services:
                settings["base_url"] = self._rest().url(name)
            elif connector.get("type") == "email" and email:
                self._point_mail(settings, inbox=inbox)
        return data

    def _point_mail(self, settings: dict[str, Any], *, inbox: bool) -> None:
        mail = self._mail()
        for key in _SMTP_LOGIN:
            settings.pop(key, None)
        settings.update(
            smtp_host="127.0.0.1",
            smtp_port=mail.port,
            security="none",
            outbox=str(mail.path("outbox")),
            sent_maildir=str(mail.path("sent")),
        )
        if inbox:
            for key in _IMAP:
                settings.pop(key, None)
            settings["inbox_maildir"] = str(mail.path("inbox"))

    def _rest(self) -> RestServer:
        if self.rest is None:
            self.rest = RestServer()
        return self.rest

    def _mail(self) -> MailSystem:
        if self.mail is None:
            self.mail = MailSystem(self.folder / "mail")
        return self.mail

    def reset(self, scenario: Scenario) -> None:
        """Fresh services for a trial of ``scenario``: nothing received, nothing sent."""
        state = scenario.spec.state
        if scenario.rest_services:
            fixtures: dict[str, list[RestFixture]] = {
                name: list(state.rest.get(name, [])) for name in scenario.rest_services
            }
            self._rest().reset(fixtures)
        elif self.rest is not None:
            self.rest.reset({})
        if scenario.email_sender is not None:
            self._mail().reset(state.mailbox, scenario.email_sender)
        elif self.mail is not None:
            self.mail.reset(None, "")

    def count_rest(self, query: RestQuery) -> int:
        return self.rest.count(query) if self.rest is not None else 0

    def sent_mail(self) -> list[dict[str, Any]]:
        return self.mail.sent() if self.mail is not None else []

    def close(self) -> None:
        if self.rest is not None:
            self.rest.close()
            self.rest = None
        if self.mail is not None:
            self.mail.close()
            self.mail = None
