"""Request bodies are capped before anything reads them (authentication included).

A declared ``Content-Length`` over the cap is refused at once; a body sent without
one (chunked) is counted as it arrives and refused the moment it goes over.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: 413 for a request body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await self._refuse(send)
            return
        capped = _Capped(receive, send, self.max_bytes, self._refuse)
        try:
            await self.app(scope, capped.receive, capped.send)
        except Exception:
            if not capped.over:
                raise
        if capped.over and not capped.answered:
            await self._refuse(send)

    def _declared_too_large(self, scope: Scope) -> bool:
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is None:
            return False
        try:
            return int(declared) > self.max_bytes
        except ValueError:
            return True

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "body_too_large",
                "message": f"the request body is larger than {self.max_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Capped:
    """A request's receive and send, the body counted: over the cap, the app is told
    the client went away (it reads no more) and the client gets the 413."""

    def __init__(
        self,
        receive: Receive,
        send: Send,
        max_bytes: int,
        refuse: Callable[[Send], Awaitable[None]],
    ) -> None:
        self._receive = receive
        self._send = send
        self._max = max_bytes
        self._refuse = refuse
        self.seen = 0
        self.over = False
        self.answered = False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self._max:
                self.over = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.over:
            if not self.answered:
                self.answered = True
                await self._refuse(self._send)
            return
        self.answered = True
        await self._send(message)
