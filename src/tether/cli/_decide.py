"""Who decides from the command line, and through what.

After ``tether login`` the decision commands (approve, reject, stop, lift, cancel,
undo) act through the console's API as the logged-in user: the console records the
decision as made from the CLI after that login. Without a login they act on the
database directly only where ``tether.yaml`` says ``operators: local`` (a
single-operator deployment), under ``--as USER``, recorded as local; a name that
belongs to no user is refused either way.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer

from tether.cli._common import cli_actor, err, service, styled
from tether.cli._login import ApiRefused, Console, NotLoggedIn, stored_login
from tether.config import read_config_file
from tether.errors import TetherError

if TYPE_CHECKING:
    from tether.approvals import ApprovalRequest
    from tether.identity import Actor
    from tether.service import Service


class Decider(Protocol):
    """The decisions of the CLI, whichever way they are made."""

    user: str
    via: str

    def approve(
        self,
        request_id: str,
        *,
        edit: dict[str, Any] | None,
        comment: str | None,
        break_glass: bool,
    ) -> dict[str, Any]: ...

    def reject(self, request_id: str, *, comment: str) -> dict[str, Any]: ...

    def resume(self, decided: dict[str, Any]) -> None:
        """Move the run of a decision just shown on (approve and reject decide only)."""

    def stop(self, *, agent: str | None, reason: str) -> dict[str, Any]: ...

    def lift(self, *, agent: str | None) -> dict[str, Any]: ...

    def cancel(self, run_id: str) -> dict[str, Any]: ...

    def undo(self, run_id: str, call_id: str) -> dict[str, Any]: ...

    def wait(self, run_id: str, seconds: float) -> dict[str, Any] | None: ...


class Remote:
    """Decisions through the console's API, as the logged-in user."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.user = console.login.user
        self.via = f"the console at {console.login.console} ({console.login.method} login)"

    def approve(
        self,
        request_id: str,
        *,
        edit: dict[str, Any] | None,
        comment: str | None,
        break_glass: bool,
    ) -> dict[str, Any]:
        if break_glass:
            body: dict[str, Any] = {"reason": comment or ""}
            return dict(self.console.call("POST", f"/api/approvals/{request_id}/break-glass", body))
        body = {"edit": edit, "comment": comment}
        return dict(self.console.call("POST", f"/api/approvals/{request_id}/approve", body))

    def reject(self, request_id: str, *, comment: str) -> dict[str, Any]:
        body = {"comment": comment}
        return dict(self.console.call("POST", f"/api/approvals/{request_id}/reject", body))

    def resume(self, decided: dict[str, Any]) -> None:
        return  # the console resumed the run as it decided

    def stop(self, *, agent: str | None, reason: str) -> dict[str, Any]:
        from tether.service import ALL_AGENTS

        body = {"agent": agent or ALL_AGENTS, "reason": reason, "confirm": True}
        answer = dict(self.console.call("POST", "/api/stop", body))
        return {"halted": len(answer["halted_runs"])}

    def lift(self, *, agent: str | None) -> dict[str, Any]:
        from tether.service import ALL_AGENTS

        return dict(self.console.call("POST", "/api/stop/lift", {"agent": agent or ALL_AGENTS}))

    def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(self.console.call("POST", f"/api/runs/{run_id}/cancel"))

    def undo(self, run_id: str, call_id: str) -> dict[str, Any]:
        return dict(self.console.call("POST", f"/api/runs/{run_id}/calls/{call_id}/undo"))

    def wait(self, run_id: str, seconds: float) -> dict[str, Any] | None:
        return None  # the console's own process moves the run on


class Local:
    """Decisions on the database, in a single-operator deployment (recorded local)."""

    def __init__(self, ops: Service, actor: Actor) -> None:
        self.ops = ops
        self.actor = actor
        self.user = actor.account
        self.via = "the database directly (operators: local; no login)"
        self._decided: dict[str, ApprovalRequest] = {}
        """Decisions not yet resumed, by request id (see :meth:`resume`)."""

    # A decision is recorded, then shown, then its run resumed: resuming loads the
    # agents' framework and DBOS (and, embedded, runs the run), which the decision,
    # durable once recorded, need not wait for.

    def approve(
        self,
        request_id: str,
        *,
        edit: dict[str, Any] | None,
        comment: str | None,
        break_glass: bool,
    ) -> dict[str, Any]:
        actor = dataclasses.replace(self.actor, break_glass=break_glass)
        decided = self.ops.approve(request_id, by=actor, edit=edit, comment=comment, resume=False)
        self._decided[decided.id] = decided
        return decided.summary(_dt.datetime.now(_dt.UTC))

    def reject(self, request_id: str, *, comment: str) -> dict[str, Any]:
        decided = self.ops.reject(request_id, by=self.actor, comment=comment, resume=False)
        self._decided[decided.id] = decided
        return decided.summary(_dt.datetime.now(_dt.UTC))

    def resume(self, decided: dict[str, Any]) -> None:
        request = self._decided.pop(decided["id"], None)
        if request is not None:
            self.ops.resume(request)

    def stop(self, *, agent: str | None, reason: str) -> dict[str, Any]:
        return {"halted": len(self.ops.stop(agent=agent, by=self.actor, reason=reason))}

    def lift(self, *, agent: str | None) -> dict[str, Any]:
        return {"lifted": self.ops.lift(agent=agent, by=self.actor)}

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self.ops.cancel(run_id, by=self.actor).summary()

    def undo(self, run_id: str, call_id: str) -> dict[str, Any]:
        result = self.ops.undo(run_id, call_id, by=self.actor)
        return {
            "kind": result.kind,
            "text": getattr(result, "text", None),
            "request_id": getattr(result, "request_id", None),
        }

    def wait(self, run_id: str, seconds: float) -> dict[str, Any] | None:
        record = (
            self.ops.wait(run_id, timeout_seconds=seconds) if seconds > 0 else self.ops.run(run_id)
        )
        return record.summary()


def _refuse(message: str, code: int = 2) -> typer.Exit:
    err.print(styled("red", "error", message))
    return typer.Exit(code)


@contextmanager
def decider(
    config: Path | None, as_user: str | None, *, execute: bool = False
) -> Iterator[Decider]:
    """The way this command decides: as the logged-in user, or locally where allowed."""
    try:
        login = stored_login()
    except NotLoggedIn as exc:
        raise _refuse(str(exc)) from None
    if login is not None:
        if as_user is not None and as_user != login.user:
            raise _refuse(
                f"logged in as {login.user}; --as {as_user} is refused (decisions are "
                f"made as the logged-in user: log in as {as_user} to decide as them)"
            )
        console = Console(login)
        try:
            yield Remote(console)
        except ApiRefused as refused:
            err.print(styled("red", "refused", str(refused)))
            raise typer.Exit(1) from None
        finally:
            console.close()
        return
    try:
        local = read_config_file(config).operators == "local"
    except TetherError as exc:
        raise _refuse(str(exc)) from None
    if not local:
        raise _refuse(
            "log in first: `tether login --console URL` (decisions are made by logged-in "
            "users; tether.yaml does not say `operators: local`)"
        )
    if not as_user:
        raise _refuse("give --as USER: who decides (operators: local, no login)")
    # A decision resumes its run here (embedded) only once it is the last one the run
    # waits on: DBOS is launched then, not for a refused or a partial decision.
    with service(config, execute=execute, when_needed=True) as ops:
        yield Local(ops, cli_actor(as_user))
