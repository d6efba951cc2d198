"""An agent's model settings and run limits: what a local or slow model needs tuned.

```yaml
model: openai-compatible:qwen2.5-1.5b-instruct@http://127.0.0.1:8080/v1
model_settings:
  temperature: 0.2
  max_tokens: 1024
  tool_choice: auto          # auto, required or none
  timeout_seconds: 300       # one model request, every retry included
limits:
  requests: 50               # model requests per segment (between approvals)
  tool_calls: 100
  total_tokens: 200000
```

Pydantic AI stops a run that reaches a limit with ``UsageLimitExceeded``; the runtime
records the run as failed with :func:`limit_message`, which names the limit and the
key that raises it, never the framework's traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # Pydantic AI is imported when a run uses these, not to read a file
    from pydantic_ai.settings import ModelSettings
    from pydantic_ai.usage import UsageLimits

DEFAULT_REQUEST_LIMIT = 50
"""Pydantic AI's own default, kept so that an agent without ``limits`` behaves as before."""


class ModelOptions(BaseModel):
    """``model_settings`` of an agent file: sent with every model request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    """The most tokens one answer of the model may have."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    tool_choice: Literal["auto", "required", "none"] | None = None
    """Whether the model must (``required``), may (``auto``) or may not call tools."""
    parallel_tool_calls: bool | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    """The longest one model request may take, every retry included (a slow local
    model needs more than a hosted one)."""

    def settings(self) -> ModelSettings:
        """The Pydantic AI settings these options stand for."""
        from pydantic_ai.settings import ModelSettings

        chosen: dict[str, Any] = {
            key: value
            for key, value in self.model_dump(exclude_none=True).items()
            if key != "timeout_seconds"
        }
        if self.timeout_seconds is not None:
            chosen["request_timeout"] = self.timeout_seconds
        settings: ModelSettings = ModelSettings(**chosen)  # type: ignore[typeddict-item]
        return settings


class RunLimits(BaseModel):
    """``limits`` of an agent file: how much one segment of a run may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int | None = Field(default=DEFAULT_REQUEST_LIMIT, gt=0)
    """Model requests per segment (``null``: no limit)."""
    tool_calls: int | None = Field(default=None, gt=0)
    """Tool calls the model makes per segment."""
    total_tokens: int | None = Field(default=None, gt=0)
    """Input and output tokens per segment."""

    def usage_limits(self) -> UsageLimits:
        from pydantic_ai.usage import UsageLimits

        return UsageLimits(
            request_limit=self.requests,
            tool_calls_limit=self.tool_calls,
            total_tokens_limit=self.total_tokens,
        )


_LIMIT_KEYS = {
    "request_limit": ("requests", "model requests"),
    "tool_calls_limit": ("tool_calls", "tool calls"),
    "total_tokens_limit": ("total_tokens", "tokens"),
}


def limit_message(exc: BaseException, *, agent: str, limits: RunLimits) -> str | None:
    """What to tell an operator when ``exc`` stopped a run at one of its limits (None:
    ``exc`` is not a limit): which limit, and the key that raises it."""
    from pydantic_ai.exceptions import ModelRequestTimeout, UsageLimitExceeded

    if isinstance(exc, ModelRequestTimeout):
        return (
            f"a model request took longer than its timeout; raise `model_settings: "
            f"{{timeout_seconds: N}}` in agent {agent}'s file"
        )
    if not isinstance(exc, UsageLimitExceeded):
        return None
    text = str(exc)
    for marker, (key, what) in _LIMIT_KEYS.items():
        if marker in text:
            value = getattr(limits, key)
            return (
                f"stopped at the agent's limit of {value} {what} per segment "
                f"(limits.{key}); raise it with `limits: {{{key}: N}}` in agent {agent}'s file"
            )
    first = text.split(". ", maxsplit=1)[0]
    return f"stopped at a usage limit ({first}); see `limits` in agent {agent}'s file"
