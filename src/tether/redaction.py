"""Keep secrets and personal data out of what the model sees and what the audit stores."""

from __future__ import annotations

import functools
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
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]
"""Shapes detect-secrets does not know in free text: HTTP credentials, whole PEM keys."""


_TETHER_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])tt_[A-Za-z0-9_-]{20,}")
"""tether's own API tokens: ``tt_`` and the token's URL-safe characters."""
_AWS_SECRET = r"(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
_MIXED_CASE_AND_DIGITS = "".join(
    rf"(?=[A-Za-z0-9/+]{{0,39}}[{kind}])" for kind in ("A-Z", "a-z", "0-9")
)
_AWS_SECRET_KEYS = (
    re.compile(r"(?i)(?:aws|secret|access.?key).{0,40}?" + _AWS_SECRET),
    re.compile(_MIXED_CASE_AND_DIGITS + _AWS_SECRET),
)
"""AWS secret access keys (40 base64 characters) where detect-secrets wants quotes: near
words that name one (``aws``, ``secret``, ``key``), or alone when they mix upper and
lower case letters and digits as only a random key does (a Git SHA-1, also 40
characters, is lower-case hex)."""
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-/+=.]{16,}")
"""Every credential shape holds a run this long: a text without one is not scanned for
them."""
_KEYWORD_STEMS = ("key", "pass", "pwd", "secret", "contrase")
"""A part of each of detect-secrets' keywords: its (slow) keyword detector runs only on
a text that holds one."""
_SHORTEST_SECRET = 6
_SHORTEST_GROUP = 8


@dataclass(frozen=True, kw_only=True)
class _Detectors:
    shapes: tuple[re.Pattern[str], ...]
    """Credential shapes: detect-secrets' detectors' patterns, and tether's own."""
    url_credentials: tuple[re.Pattern[str], ...]
    """``scheme://user:password@host``."""
    keywords: Any
    """detect-secrets' keyword detector (``password=…``, ``api_key: "…"``)."""
    unquoted: Any
    """Its keyword forms with or without quotes, as in free text."""


@functools.cache
def _detectors() -> _Detectors:
    """detect-secrets' detectors, imported on first use (the import costs a quarter of
    a second; a command that redacts nothing does not pay it). Its entropy and IP
    detectors are left out (hashes and ids are not secrets), and its scanning, which
    can verify a secret against its service, is not used: only the patterns."""
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import CONFIG_DENYLIST_REGEX_TO_GROUP, KeywordDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    library = (
        AWSKeyDetector,
        ArtifactoryDetector,
        AzureStorageKeyDetector,
        DiscordBotTokenDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        JwtTokenDetector,
        MailchimpDetector,
        NpmDetector,
        OpenAIDetector,
        PypiTokenDetector,
        SendGridDetector,
        SlackDetector,
        SquareOAuthDetector,
        StripeDetector,
        TelegramBotTokenDetector,
        TwilioKeyDetector,
    )
    shapes = [_TETHER_TOKEN, *_AWS_SECRET_KEYS]
    shapes.extend(pattern for detector in library for pattern in detector().denylist)
    return _Detectors(
        shapes=tuple(shapes),
        url_credentials=tuple(BasicAuthDetector().denylist),
        keywords=KeywordDetector(),
        unquoted=CONFIG_DENYLIST_REGEX_TO_GROUP,
    )


@functools.lru_cache(maxsize=4096)
def _named_secret(normal: str) -> bool:
    """Whether a field's (normalised) name says it holds a secret: the same few names
    come in every call's arguments and output, so the answer is kept."""
    return any(part in normal for part in _SECRET_KEY_PARTS)


@functools.lru_cache(maxsize=4096)
def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _matched_secret(match: re.Match[str]) -> str:
    """The secret in a detector's match: the group that holds it behind its context
    (``aws_secret = '…'``, ``://user:…@``), else the whole match (a group at its start
    is a prefix alternative, as ``(ghp|gho)_…``)."""
    group = match.lastindex
    if group is not None:
        value = match.group(group)
        if value and match.start(group) > match.start() and len(value) >= _SHORTEST_GROUP:
            return value
    return match.group(0).strip(" \t\r\n\"'=:")


def _detected(text: str) -> set[str]:
    """The secret values detect-secrets' detectors (and tether's) find in ``text``:
    credentials by their shape, in URLs, and assigned to a keyword (``password=…``)."""
    if len(text) < _SHORTEST_SECRET:
        return set()
    detectors = _detectors()
    patterns = detectors.url_credentials
    if _LONG_RUN.search(text):
        patterns += detectors.shapes
    found = {_matched_secret(match) for pattern in patterns for match in pattern.finditer(text)}
    lowered = text.lower()
    if any(stem in lowered for stem in _KEYWORD_STEMS):
        keywords = detectors.keywords.analyze_string(
            text, denylist_regex_to_group=detectors.unquoted
        )
        found.update(keywords)
    return {value for value in found if value.strip()}


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
    tokens, private keys, tether's ``tt_…`` tokens, AWS keys and the other shapes
    detect-secrets' detectors know), where it assigns one in free text
    (``password=…``), or contains a value the caller marked secret.
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
        return normal in self._secret_fields or _named_secret(normal)

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
        if len(scrubbed) <= _KEPT_LENGTH:
            scrubbed = _scrubbed_kept(scrubbed)
        else:
            scrubbed = _scrubbed(scrubbed)
        if scrubbed != text:
            paths.append(path or "(value)")
        return scrubbed


def _scrubbed(text: str) -> str:
    """``text`` with every secret its shapes give away replaced."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(SECRET, text)
    for secret in sorted(_detected(text), key=len, reverse=True):
        text = text.replace(secret, SECRET)
    return text


_KEPT_LENGTH = 256
"""Short texts recur (a policy's rule, an effect, a grant's reason, a model's words
named in every event of a call), and scanning one costs dozens of regular expressions:
their answers are kept."""
_scrubbed_kept = functools.lru_cache(maxsize=8192)(_scrubbed)
