from __future__ import annotations

import typer

from tether.cli import (
    _approvals,
    _assess,
    _audit,
    _demo,
    _evidence,
    _gateway,
    _login,
    _outbox,
    _policy,
    _runs,
    _serve,
    _tryton,
    _witness,
    _worker,
)
from tether.cli._eval import register as register_eval

app = typer.Typer(
    name="tether",
    help="Run AI agents that act on business systems, and keep them under control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(_policy.app, name="policy")
app.add_typer(_audit.app, name="audit")
app.add_typer(_runs.app, name="runs")
app.add_typer(_approvals.app, name="approvals")
app.add_typer(_outbox.app, name="outbox")
app.add_typer(_tryton.app, name="tryton")
app.add_typer(_witness.app, name="witness")
app.add_typer(_evidence.app, name="evidence")
app.add_typer(_login.app, name="tokens")
app.command("login")(_login.login)
app.command("logout")(_login.logout)
app.command("unlock")(_login.unlock)
app.add_typer(_gateway.app, name="gateway")
app.command("demo")(_demo.demo)
app.command("run")(_runs.run)
app.command("worker")(_worker.worker)
app.command("stop")(_worker.stop)
app.command("serve")(_serve.serve)
app.command("assess")(_assess.assess)
register_eval(app)


def main() -> None:
    app()
