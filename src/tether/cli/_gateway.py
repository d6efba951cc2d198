"""``tether gateway``: the MCP gateway, and the operator's review of upstream tools."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from tether.cli._common import ConfigOption, cli_actor, echo_json, err, out, styled
from tether.errors import TetherError

app = typer.Typer(
    help="The MCP gateway: any MCP client, through tether's gate.", no_args_is_help=True
)


def _load(config: Path | None):  # type: ignore[no-untyped-def]
    from tether.config import load_config
    from tether.gateway import assemble
    from tether.service import Service

    try:
        loaded = load_config(config)
        runtime = loaded.runtime()
    except TetherError as exc:
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None
    try:
        return loaded, runtime, assemble(loaded, Service(runtime))
    except TetherError as exc:
        runtime.close()
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None


@app.command("serve")
def serve(
    config: ConfigOption = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Serve one client on stdin/stdout instead of HTTP.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--as", help="stdio: the policy's user the calls are made for.")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="stdio: the policy's agent making them.")
    ] = None,
    host: Annotated[str, typer.Option(help="HTTP: address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="HTTP: port (default: the url's).")] = None,
) -> None:
    """Serve MCP: Streamable HTTP at the gateway's url (OAuth or API tokens), or stdio."""
    from urllib.parse import urlparse

    from tether.gateway import local_caller, serve_http, serve_stdio

    loaded, runtime, parts = _load(config)
    try:
        if stdio:
            if user is None or agent is None:
                err.print(styled("red", "error", "--stdio needs --as USER and --agent AGENT"))
                raise typer.Exit(2)
            caller = local_caller(runtime.policy, user=user, agent=agent)
            asyncio.run(serve_stdio(parts.gateway, caller))
            return
        url = urlparse(parts.settings.url)
        listen = port or url.port or 8765
        err.print(
            styled(
                "green", "gateway", f"MCP at {parts.settings.url} (listening on {host}:{listen})"
            )
        )
        asyncio.run(
            serve_http(parts.gateway, parts.identities, parts.settings, host=host, port=listen)
        )
    except TetherError as exc:
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None
    finally:
        for toolset in loaded.toolsets:
            close = getattr(toolset, "close", None)
            if close is not None:
                close()
        runtime.close()


@app.command("tools")
def tools(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The upstream MCP tools and their pins: accepted, or quarantined until reviewed."""
    _, runtime, parts = _load(config)
    try:
        pins = parts.pins.all()
        if as_json:
            echo_json(
                [
                    {
                        "name": pin.name,
                        "status": pin.status,
                        "seen_hash": pin.seen_hash,
                        "accepted_hash": pin.accepted_hash,
                        "accepted_by": pin.accepted_by,
                        "definition": pin.seen_definition,
                    }
                    for pin in pins
                ]
            )
            return
        for pin in pins:
            colour = "green" if pin.status == "accepted" else "red"
            by = f" by {pin.accepted_by}" if pin.status == "accepted" else ""
            out.print(styled(colour, f"{pin.status:<12}", f"{pin.name}  {pin.seen_hash[:12]}{by}"))
    finally:
        runtime.close()


@app.command("accept")
def accept(
    name: Annotated[str, typer.Argument(help="The tool (PREFIX.name), or 'all' quarantined.")],
    user: Annotated[str, typer.Option("--as", help="Who accepts (recorded).")],
    expected: Annotated[
        str | None,
        typer.Option("--hash", help="Accept only if the definition seen has this hash (prefix)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Accept the definition now seen for an upstream tool: it leaves quarantine."""
    _, runtime, parts = _load(config)
    try:
        names = (
            [pin.name for pin in parts.pins.all() if pin.status == "quarantined"]
            if name == "all"
            else [name]
        )
        for one in names:
            try:
                pin = parts.pins.accept(one, by=cli_actor(user), expected_hash=expected)
            except KeyError:
                err.print(styled("red", "error", f"no upstream tool {one!r} has been seen"))
                raise typer.Exit(1) from None
            except ValueError as exc:
                err.print(styled("red", "refused", str(exc)))
                raise typer.Exit(1) from None
            out.print(styled("green", "accepted", f"{pin.name}  {(pin.accepted_hash or '')[:12]}"))
    finally:
        runtime.close()
