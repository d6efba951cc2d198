"""Keep secrets and personal data out of what the model sees and what the audit stores."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECRET = "[REDACTED]"
"""What a secret is replaced with."""
MASKED = "[MASKED]"
"""What a personal-data field named by the policy is replaced with."""

_SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "privatekey",
    "credential",
    "cookie",
    "sessionid",
)
_SECRET_PATTERNS = [
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/=]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]


def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


@dataclass(frozen=True, kw_only=True)
class Redacted:
    value: Any
    """The value with secrets and personal data replaced."""
    paths: tuple[str, ...]
    """Where something was replaced (``customer.email``), for the record."""


class Redactor:
    """Replaces secrets and named personal-data fields anywhere in a JSON-like value.

    A key is secret when its name says so (``password``, ``api_key``, ``Authorization``…)
    or the caller names it; a string is secret where it looks like a credential (bearer
    tokens, ``sk-…`` keys, private keys) or contains a value the caller marked secret.
    """

    def __init__(
        self,
        *,
        secret_fields: Iterable[str] = (),
        pii_fields: Iterable[str] = (),
        secret_values: Iterable[str] = (),
    ) -> None:
        self._secret_fields = frozenset(_normal(name) for name in secret_fields)
        self._pii_fields = frozenset(_normal(name) for name in pii_fields)
        self._secret_values = tuple(sorted((v for v in secret_values if v), key=len, reverse=True))

    def with_secrets(self, *, fields: Iterable[str] = (), values: Iterable[str] = ()) -> Redactor:
        """A redactor that also hides these fields and literal values."""
        redactor = Redactor(pii_fields=(), secret_values=(*self._secret_values, *values))
        redactor._secret_fields = self._secret_fields | {_normal(name) for name in fields}
        redactor._pii_fields = self._pii_fields
        return redactor

    def is_secret_key(self, key: str) -> bool:
        normal = _normal(key)
        return normal in self._secret_fields or any(part in normal for part in _SECRET_KEY_PARTS)

    def redact(self, value: Any) -> Redacted:
        paths: list[str] = []
        return Redacted(value=self._walk(value, "", paths), paths=tuple(paths))

    def redact_text(self, text: str) -> str:
        return self._scrub(text, "", [])

    def _walk(self, value: Any, path: str, paths: list[str]) -> Any:
        if isinstance(value, Mapping):
            return {key: self._field(str(key), item, path, paths) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(item, f"{path}[{i}]", paths) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._scrub(value, path, paths)
        return value

    def _field(self, key: str, value: Any, path: str, paths: list[str]) -> Any:
        where = f"{path}.{key}" if path else key
        if value is None or value == "":
            return value
        if self.is_secret_key(key):
            paths.append(where)
            return SECRET
        if _normal(key) in self._pii_fields:
            paths.append(where)
            return MASKED
        return self._walk(value, where, paths)

    def _scrub(self, text: str, path: str, paths: list[str]) -> str:
        scrubbed = text
        for secret in self._secret_values:
            scrubbed = scrubbed.replace(secret, SECRET)
        for pattern in _SECRET_PATTERNS:
            scrubbed = pattern.sub(SECRET, scrubbed)
        if scrubbed != text:
            paths.append(path or "(value)")
        return scrubbed
