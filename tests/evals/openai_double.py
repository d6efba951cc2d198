"""An explicit LLM test double: a local OpenAI-compatible chat server playing a script.

It speaks the same HTTP as llama.cpp's or vLLM's server (``POST /v1/chat/completions``),
so a test drives tether's real OpenAI client path (``openai-compatible:MODEL@URL``)
without a network or a model. Turn N answers the N-th request of a conversation
(counted by the assistant messages it already holds); every request body is kept
for the test to read. A turn may be slow (``delay_seconds``) to play a slow model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Turn:
    text: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(tool name as tether names it, arguments)."""
    delay_seconds: float = 0.0


@dataclass
class ChatServer:
    turns: list[Turn]
    repeat_last: bool = False
    """Once out of turns, play the last one again (a model stuck in a loop)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        taken = sum(1 for message in body.get("messages", []) if message["role"] == "assistant")
        if taken < len(self.turns):
            turn = self.turns[taken]
        elif self.repeat_last:
            turn = self.turns[-1]
        else:
            turn = Turn(text="(no more turns)")
        if turn.delay_seconds:
            time.sleep(turn.delay_seconds)
        message: dict[str, Any] = {"role": "assistant", "content": turn.text}
        if turn.calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{taken}_{index}",
                    "type": "function",
                    "function": {
                        "name": tool.replace(".", "__"),
                        "arguments": json.dumps(args),
                    },
                }
                for index, (tool, args) in enumerate(turn.calls)
            ]
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "double"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if turn.calls else "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }


@contextmanager
def chat_server(turns: list[Turn], *, repeat_last: bool = False) -> Iterator[ChatServer]:
    """Serve ``turns`` on a free loopback port; ``server.url`` is the ``/v1`` base URL."""
    server = ChatServer(turns=turns, repeat_last=repeat_last)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            data = json.dumps(server.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:  # the client gave up (a timeout): nothing to answer
                return

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
