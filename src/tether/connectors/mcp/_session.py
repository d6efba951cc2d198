"""One MCP server, reached from any thread or event loop.

The MCP client (anyio streams, a subprocess or an HTTP session) lives on a private
event loop in a daemon thread, so the gate may call from its worker threads, from
``asyncio.run`` in a test or from a durable runtime's loop alike. One connection
is kept open and reused; a call that times out or loses the server drops it,
and the next call opens a fresh one. A call the caller cancels (the gate's own
timeout) is cancelled on the server by the protocol's cancel notification and
the connection kept. Calls are never retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import IO, Any, TypeVar, cast

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CONNECTION_CLOSED, CallToolResult
from mcp_types import Tool as MCPTool

from tether.connectors.mcp._settings import MCPSettings
from tether.errors import ToolCallError

_T = TypeVar("_T")
_log = logging.getLogger("tether.connectors.mcp")
_MAX_PAGES = 100
_CLOSE_SECONDS = 10.0


class MCPConnectError(Exception):
    """The server could not be started, reached or greeted."""


class _LoopThread:
    """A private event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                for task in asyncio.all_tasks(self.loop):
                    task.cancel()
                self.loop.run_until_complete(asyncio.sleep(0))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            finally:
                self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        with self._lock:
            if self._stopped:
                coro.close()
                raise RuntimeError("the MCP connection is closed")
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.is_current():
            self._thread.join(_CLOSE_SECONDS)


class _Server:
    """The open client (at most one), owned by a task on the private loop."""

    def __init__(self, settings: MCPSettings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._owners: set[asyncio.Task[None]] = set()
        self.closed = False

    # --- opening and dropping the connection ----------------------------------------

    async def client(self) -> Client:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.closed:
                raise MCPConnectError("the MCP connection is closed")
            if self._client is not None and _ended(self._client):
                self.drop(self._client)  # the server went away between calls
            if self._client is None:
                self._client = await self._open()
            return self._client

    async def _open(self) -> Client:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Client] = loop.create_future()
        stop = asyncio.Event()
        owner = loop.create_task(self._own(ready, stop))
        self._owners.add(owner)
        owner.add_done_callback(self._owners.discard)
        try:
            async with asyncio.timeout(self.settings.connect_timeout_seconds):
                client = await asyncio.shield(ready)
        except TimeoutError:
            stop.set()
            owner.cancel()
            raise MCPConnectError(
                f"no answer within {self.settings.connect_timeout_seconds:g}s"
            ) from None
        except asyncio.CancelledError:
            stop.set()
            owner.cancel()
            raise
        except Exception as exc:
            raise MCPConnectError(_describe(exc)) from None
        self._stop = stop
        return client

    async def _own(self, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        client: Client | None = None
        try:
            with _stderr() as errlog:
                async with Client(self._transport(errlog), cache=None) as client:
                    ready.set_result(client)
                    await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
        except BaseException as exc:  # ExceptionGroup from anyio's task groups included
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            else:
                _log.debug("%s: connection ended: %r", self.settings.server_label, exc)
        finally:
            if client is not None:
                self.drop(client)  # ended by itself: the next call opens a new one

    def _transport(self, errlog: IO[str]) -> Any:
        settings = self.settings
        if settings.command is not None:
            params = StdioServerParameters(
                command=settings.command,
                args=list(settings.args),
                env=settings.server_env() or None,
                cwd=settings.working_dir(),
            )
            return stdio_client(params, errlog=errlog)  # type: ignore[arg-type]
        return _http_transport(settings.url or "", settings.http_headers())

    def drop(self, client: Client | None = None) -> None:
        """Forget the open connection (if still ``client``); its owner task closes it."""
        if client is not None and client is not self._client:
            return  # another call has already replaced it
        if self._stop is not None:
            self._stop.set()
        self._client = None
        self._stop = None

    async def aclose(self) -> None:
        self.closed = True
        self.drop()
        owners = list(self._owners)
        if not owners:
            return
        _, pending = await asyncio.wait(owners, timeout=_CLOSE_SECONDS)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_SECONDS)

    # --- what the connector asks ------------------------------------------------------

    async def list_tools(self) -> list[MCPTool]:
        client = await self.client()
        tools: list[MCPTool] = []
        cursor: str | None = None
        try:
            async with asyncio.timeout(self.settings.connect_timeout_seconds):
                for _ in range(_MAX_PAGES):  # a server that pages forever cannot hang us
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except TimeoutError:
            self.drop(client)
            raise MCPConnectError("listing its tools took too long") from None
        except Exception as exc:
            self.drop(client)
            raise MCPConnectError(f"listing its tools failed: {_describe(exc)}") from None
        return tools

    async def call(
        self, tool: str, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None
    ) -> CallToolResult:
        """Call MCP tool ``name``; every failure is a :class:`ToolCallError` for ``tool``."""
        label = self.settings.server_label
        try:
            client = await self.client()
        except MCPConnectError as exc:
            raise ToolCallError(tool, f"cannot connect to the {label}: {exc}") from None
        timeout = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                return await client.call_tool(name, arguments, meta=cast(Any, meta))
        except TimeoutError:
            self.drop(client)
            raise ToolCallError(
                tool,
                f"the {label} did not answer within {timeout:g}s; the call was abandoned "
                "and the connection reset (the server may still have acted)",
            ) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self.drop(client)
                raise ToolCallError(
                    tool,
                    f"the {label} closed the connection during the call (it may have "
                    "exited or crashed); it is reconnected on the next call, "
                    "and whether the call took effect is unknown",
                ) from None
            raise ToolCallError(
                tool, f"the {label} refused the call: {exc.message} (code {exc.code})"
            ) from None
        except Exception as exc:
            self.drop(client)
            raise ToolCallError(tool, f"the call to the {label} failed: {_describe(exc)}") from None


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


@contextlib.contextmanager
def _stderr() -> Any:
    """Where a stdio server's stderr goes: tether's own stderr when it is a real file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        with open(os.devnull, "w") as devnull:
            yield devnull
    else:
        yield sys.stderr


def _ended(client: Client) -> bool:
    """Whether the connection has seen the server go (end of stream); best effort.

    The SDK has no public flag for this; without it, the first call after a server
    died between calls fails (as "closed during the call") and the next reconnects.
    """
    dispatcher = getattr(client.session, "_dispatcher", None)
    return bool(getattr(dispatcher, "_closed", False))


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an error (anyio wraps them in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"{exc.message} (code {exc.code})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Connection:
    """The sync and async face of one MCP server for the tools the connector makes."""

    def __init__(self, settings: MCPSettings) -> None:
        self.settings = settings
        self._loop = _LoopThread(f"tether-mcp-{settings.prefix}")
        self._server = _Server(settings)
        self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._server)

    def list_tools(self) -> list[MCPTool]:
        """The server's tools (connects first); :class:`MCPConnectError` when that fails."""
        future = self._loop.submit(self._server.list_tools())
        try:
            return future.result(self.settings.connect_timeout_seconds * 2 + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPConnectError("no answer in time") from None

    async def call(
        self,
        tool: str,
        name: str,
        arguments: dict[str, Any],
        *,
        meta: dict[str, Any] | None = None,
    ) -> CallToolResult:
        try:
            future = self._loop.submit(self._server.call(tool, name, arguments, meta))
        except RuntimeError:
            raise ToolCallError(tool, f"the {self.settings.server_label} is closed") from None
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Close the connection (stopping a stdio server) and the private loop."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


def _shutdown(loop: _LoopThread, server: _Server) -> None:
    if loop.is_current():  # garbage-collected on the private loop itself: do not wait on it
        loop.loop.create_task(_close_then_stop(loop, server))
        return
    with contextlib.suppress(Exception):
        loop.submit(server.aclose()).result(_CLOSE_SECONDS * 3)
    loop.stop()


async def _close_then_stop(loop: _LoopThread, server: _Server) -> None:
    try:
        await server.aclose()
    finally:
        loop.stop()
