"""A console served over real HTTP (uvicorn on loopback), configured by a tether.yaml
the way `tether serve` is: for the CLI's login, and the single sign-on tests.

The folder holds a copy of the support-desk example whose policy demands an
authenticated approver for refunds and has a break-glass path for ``irene``.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from tests.web.conftest import EXAMPLE, FAST, PASSWORDS, ROLES
from tether.config import load_config
from tether.runtime import Runtime
from tether.web import app_from_config, hash_password

SERVED_PASSWORDS = {**PASSWORDS, "irene": "irene-pw"}
SERVED_ROLES = {**ROLES, "irene": ["approver"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def desk_folder(folder: Path) -> Path:
    """The example, its refunds needing a logged-in approver, irene its break-glass."""
    shutil.copytree(EXAMPLE / "agents", folder / "agents")
    shutil.copytree(EXAMPLE / "scripts", folder / "scripts")
    text = (EXAMPLE / "policy.yaml").read_text()
    text = text.replace("max: 5000", "max: 100000000")
    text = text.replace(
        "          escalate: {after: 4h, to: [user:frank]}\n",
        "          escalate: {after: 4h, to: [user:frank]}\n          assurance: authenticated\n",
    )
    text = text.replace(
        "  sam:   {roles: [sales]",
        "  irene: {roles: [incident-lead], attributes: {email: irene@acme.example}}\n"
        "  sam:   {roles: [sales]",
    )
    text = text.replace(
        "  sales:\n",
        "  incident-lead:\n    description: Breaks glass in an emergency.\n  sales:\n",
    )
    text += "\nbreak_glass:\n  approvers: [role:incident-lead]\n  notify: [role:finance-lead]\n"
    (folder / "policy.yaml").write_text(text)
    return folder


def write_config(folder: Path, *, local: bool, web: Mapping[str, Any] | None = None) -> Path:
    users = {
        name: {"password_hash": hash_password(SERVED_PASSWORDS[name], hasher=FAST), "roles": roles}
        for name, roles in SERVED_ROLES.items()
    }
    spec: dict[str, Any] = {
        "database": f"sqlite:///{folder / 'tether.db'}",
        "policy": "policy.yaml",
        "agents": ["agents/support-desk.yaml", "agents/billing.yaml"],
        "keys": str(folder / "keys"),
        "web": {"users": users, **(web or {})},
    }
    if local:
        spec["operators"] = "local"
        spec["inline"] = False  # the served console's runtime runs the runs (one per process)
    path = folder / ("local.yaml" if local else "tether.yaml")
    path.write_text(yaml.safe_dump(spec))
    path.chmod(0o600)
    return path


@dataclass
class Served:
    url: str
    runtime: Runtime
    config: Path
    local_config: Path
    server: uvicorn.Server


@contextmanager
def serve(
    folder: Path,
    *,
    web: Mapping[str, Any] | None = None,
    port: int | None = None,
    launch: bool = True,
) -> Iterator[Served]:
    """The console of a fresh copy of the example in ``folder`` (``launch``: it also
    runs the runs; one launched runtime per process)."""
    desk_folder(folder)
    config = write_config(folder, local=False, web=web)
    local = write_config(folder, local=True, web=web)
    loaded = load_config(config)
    rt = loaded.runtime()
    if launch:
        rt.launch()
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    app = app_from_config(loaded, rt)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    try:
        yield Served(url=url, runtime=rt, config=config, local_config=local, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()
