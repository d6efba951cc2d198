"""Where the values that steer actions came from: identifiers and their provenance.

A run keeps, for every identifier that can steer an action (an email address, a
domain, a URL, an IBAN, a phone number, a record id, a file, user or channel name),
the sources that vouched for it or where it was seen:

- ``task``: named in the task the user gave (when the agent's ``vouch.task`` is on);
- ``start``: vouched explicitly when the run was started;
- ``tool:NAME``: a trusted field of a tool's output, or an argument of a successful
  call of a tool that vouches for it (inviting a user makes them a member);
- ``approval``: an argument of a call a person approved;
- ``policy``: the policy's allow-list (checked at decision time, not stored);
- ``untrusted:NAME``: seen in an untrusted field of a tool's output.

Values are normalised by well-kept parsers (email-validator, phonenumbers,
python-stdnum, urllib), so ``Bob@Example.COM`` and ``bob@example.com`` are one
address and ``DE89 3704 0044 0532 0130 00`` one IBAN. A value that cannot be read
as identifiers (a number with a fraction, a mapping, an empty string) has no
provenance: it is never vouched (fail closed).
"""

from __future__ import annotations

import email.utils
import functools
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The address, IBAN and phone parsers are imported where they are used: loading a
# policy or reading approvals needs none of them.

SOURCES = ("task", "start", "tool", "approval", "policy", "untrusted")
"""The kinds of source, as ``vouched_by`` and ``from_untrusted`` name them."""
VOUCHING = frozenset({"task", "start", "tool", "approval", "policy"})

Provenance = Mapping[str, tuple[str, ...]]
"""Normalised identifier (``kind:value``) → its sources, e.g. ``{"email:bob@x.example":
("task",)}``."""

_PUNCTUATION = "<>()[]{},;:\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_TRAILING = ".!?"
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,8}\b")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|'([^'\n]{1,200})'")
_URL_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "ws", "wss"})
_MAX_NAME = 200


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """One normalised identifier."""

    kind: str
    """``email``, ``domain``, ``url``, ``iban``, ``phone`` or ``name`` (ids and names)."""
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    def __str__(self) -> str:
        return self.value


class Undetermined(ValueError):
    """A value whose provenance cannot be determined (it is not an identifier)."""


# --- one value ----------------------------------------------------------------------


def identifiers_of(value: Any) -> tuple[Identifier, ...]:
    """The identifiers an argument's value names, read as a whole.

    A string is read as a URL, an IBAN, a phone number, one or more email addresses
    (``"a@x.example, Bob <b@y.example>"`` names two), a domain, or else a name or id;
    an integer is an id; a list names its items' identifiers. Anything else raises
    :class:`Undetermined`.
    """
    if isinstance(value, bool) or value is None:
        raise Undetermined(f"{value!r} is not an identifier")
    if isinstance(value, int):
        return (Identifier("name", str(value)),)
    if isinstance(value, str):
        return _of_string(value)
    if isinstance(value, list | tuple | frozenset | set):
        found: list[Identifier] = []
        for item in value:
            found.extend(identifiers_of(item))
        if not found:
            raise Undetermined("an empty list names nothing")
        return tuple(dict.fromkeys(found))
    kind = "a number with a fraction" if isinstance(value, float) else type(value).__name__
    raise Undetermined(f"{kind} carries no provenance")


@functools.lru_cache(maxsize=8192)
def _of_string(text: str) -> tuple[Identifier, ...]:
    # Cached: the parsers take microseconds, and a run asks about the same values often.
    value = text.strip()
    if not value:
        raise Undetermined("an empty string names nothing")
    if (url := _url(value)) is not None:
        return (url,)
    if (account := _iban_of(value)) is not None:
        return (account,)
    if (phone := _phone(value)) is not None:
        return (phone,)
    if "@" in value and not value.startswith("@"):
        return _addresses(value)
    if (domain := _domain(value)) is not None:
        return (domain,)
    return (_name(value),)


def _addresses(value: str) -> tuple[Identifier, ...]:
    found = []
    for _, address in email.utils.getaddresses([value]):
        normal = normal_email(address)
        if normal is None:
            raise Undetermined(f"{value!r} is not a list of valid email addresses")
        found.append(Identifier("email", normal))
    if not found:
        raise Undetermined(f"{value!r} is not a list of valid email addresses")
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=8192)
def normal_email(address: str) -> str | None:
    """The address as compared (lowercase), or None if it is not a valid address."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(address.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    return checked.normalized.casefold()


def addresses_in(value: Any) -> list[str]:
    """Every address a recipient field's value names, normalised, in order.

    Strings are split the way mail is (``"a@x, Bob <b@y>"`` is two addresses), so a
    recipient smuggled after a comma is seen. What is not a valid address is kept
    as written (lowercased), so a condition on it fails instead of passing unseen.
    """
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [address for item in value for address in addresses_in(item)]
    return list(_addresses_of_text(str(value)))


@functools.lru_cache(maxsize=8192)
def _addresses_of_text(text: str) -> tuple[str, ...]:
    found = []
    for _, address in email.utils.getaddresses([text]):
        found.append(normal_email(address) or address.strip().casefold())
    if not found and text.strip():
        found.append(text.strip().casefold())
    return tuple(found)


def _url(value: str) -> Identifier | None:
    if " " in value or "://" not in value:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".").lower()
    netloc = host if port is None else f"{host}:{port}"
    if parts.username or parts.password:  # credentials in a URL are part of what is sent
        netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
    query = f"?{parts.query}" if parts.query else ""  # a query string carries data out
    return Identifier("url", f"{scheme}://{netloc}{parts.path or '/'}{query}")


def url_host(identifier: Identifier) -> str | None:
    if identifier.kind != "url":
        return None
    return urllib.parse.urlsplit(identifier.value).hostname


def _iban_of(value: str) -> Identifier | None:
    if len(value) > 42 or not value[:2].isalpha():
        return None
    from stdnum import iban  # its import (pydoc, pkgutil) costs more than this module's

    try:
        if iban.is_valid(value):
            return Identifier("iban", iban.compact(value))
    except Exception:  # stdnum raises its own errors for odd input
        return None
    return None


def _phone(value: str) -> Identifier | None:
    if not value.startswith("+") and not value.lower().startswith("tel:"):
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(value.removeprefix("tel:"), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return Identifier(
        "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def _domain(value: str) -> Identifier | None:
    host = value.lower().rstrip(".")
    return Identifier("domain", host) if _DOMAIN.match(host) else None


def _name(value: str) -> Identifier:
    return Identifier("name", " ".join(value.split()).casefold()[:_MAX_NAME])


def domain_of(identifier: Identifier) -> str | None:
    """The domain an address, URL or domain belongs to."""
    if identifier.kind == "email":
        return identifier.value.rpartition("@")[2]
    if identifier.kind == "domain":
        return identifier.value
    return url_host(identifier)


# --- free text ----------------------------------------------------------------------


def identifiers_in_text(text: str, *, names: bool = True) -> set[Identifier]:
    """The identifiers free text names (a task, a message's body).

    Addresses, URLs (and their hosts), IBANs and phone numbers are found by their
    parsers; with ``names``, also tokens with a digit (``INV-0042``, ``42``),
    ``#channel`` and ``@user`` names, and quoted strings (file or people names).
    """
    found: set[Identifier] = set()
    spans: list[tuple[int, int]] = []
    for match in _IBAN_CANDIDATE.finditer(text):
        if (account := _iban_of(match.group(0))) is not None:
            found.add(account)
            spans.append(match.span())
    import phonenumbers

    for number in phonenumbers.PhoneNumberMatcher(text, None):
        formatted = phonenumbers.format_number(number.number, phonenumbers.PhoneNumberFormat.E164)
        found.add(Identifier("phone", formatted))
        spans.append((number.start, number.end))
    rest = text
    for start, end in spans:  # an IBAN's or a number's groups are not ids of their own
        rest = rest[:start] + " " * (end - start) + rest[end:]
    for token in _tokens(rest):
        found.update(_token_identifiers(token, names=names))
    if names:
        for match in _QUOTED.finditer(text):
            quoted = next(group for group in match.groups() if group is not None)
            if quoted.strip():
                found.update(_of_string_safe(quoted))
    return found


def _tokens(text: str) -> Iterator[str]:
    for raw in text.split():
        token = raw.strip(_PUNCTUATION).rstrip(_TRAILING).strip(_PUNCTUATION)
        if token:
            yield token


def _token_identifiers(token: str, *, names: bool) -> list[Identifier]:
    if (url := _url(token)) is not None:
        host = url_host(url)
        return [url] + ([Identifier("domain", host)] if host else [])
    if "@" in token and not token.startswith("@"):
        address = normal_email(token.removeprefix("mailto:"))
        return [Identifier("email", address)] if address else []
    if (domain := _domain(token)) is not None:
        return [domain]
    if not names:
        return []
    if token[0] in "#@" and len(token) > 1:
        return [_name(token), _name(token[1:])]
    if any(char.isdigit() for char in token):
        return [_name(token)]
    return []


def _of_string_safe(value: str) -> tuple[Identifier, ...]:
    try:
        return _of_string(value)
    except Undetermined:
        return ()


def identifiers_in_value(value: Any) -> set[Identifier]:
    """The identifiers anywhere in a structured value: each string as a whole (a
    short one) and the identifiers its text names; ints as ids."""
    found: set[Identifier] = set()
    for leaf in _leaves(value):
        if isinstance(leaf, bool) or leaf is None:
            continue
        if isinstance(leaf, int):
            found.add(Identifier("name", str(leaf)))
        elif isinstance(leaf, str):
            if len(leaf) <= _MAX_NAME:
                found.update(_of_string_safe(leaf))
            found.update(identifiers_in_text(leaf, names=False))
    return found


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# --- field paths in structured output -------------------------------------------------


def at_path(value: Any, path: str) -> Iterator[Any]:
    """The values at a dotted field path (``messages.body``); lists are walked into,
    so ``messages.body`` is each message's body. ``*`` is the whole value."""
    if path in ("", "*"):
        yield value
        return
    yield from _walk(value, path.split("."))


def _walk(value: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, parts)
        return
    if not parts:
        yield value
        return
    if isinstance(value, Mapping) and parts[0] in value:
        yield from _walk(value[parts[0]], parts[1:])


# --- the run's table ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Vouching:
    """A policy's allow-list: values and domains vouched for by the policy itself."""

    values: frozenset[str] = frozenset()
    """Normalised identifier keys (``email:ap@bank.example``)."""
    domains: frozenset[str] = frozenset()
    """Domains whose addresses, URLs and subdomains are vouched for."""

    @classmethod
    def of(cls, values: Iterable[str], domains: Iterable[str]) -> Vouching:
        keys: set[str] = set()
        for value in values:
            keys.update(identifier.key for identifier in identifiers_of(value))
        normal = {key for domain in domains if (key := domain_key(domain)) is not None}
        return cls(values=frozenset(keys), domains=frozenset(normal))

    def covers(self, identifier: Identifier) -> bool:
        if identifier.key in self.values:
            return True
        domain = domain_of(identifier)
        if domain is None or not self.domains:
            return False
        return any(domain == d or domain.endswith(f".{d}") for d in self.domains)

    def __or__(self, other: Vouching) -> Vouching:
        return Vouching(values=self.values | other.values, domains=self.domains | other.domains)


NO_VOUCHING = Vouching()


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a value is vouched for, and why (for the decision's reasons)."""

    vouched: bool
    sources: tuple[str, ...]
    note: str


@dataclass(kw_only=True)
class ProvenanceView:
    """The questions conditions ask of a run's provenance (``vouched(args.to)``…).

    Every answer that is not "vouched" leaves a note saying why, so that a decision
    held or refused because of it says so.
    """

    table: Provenance
    policy: Vouching = NO_VOUCHING
    notes: list[str] = field(default_factory=list)

    def sources_of(self, identifier: Identifier) -> tuple[str, ...]:
        found = tuple(self.table.get(identifier.key, ()))
        if self.policy.covers(identifier):
            found = (*found, "policy")
        return found

    def verdict(self, value: Any, source: str | None = None) -> Verdict:
        """Vouched when every identifier ``value`` names is vouched (by ``source``,
        when given); a value with no provenance never is."""
        try:
            identifiers = identifiers_of(value)
        except Undetermined as exc:
            return Verdict(
                False, (), f"the provenance of {_shown(value)} cannot be determined ({exc})"
            )
        all_sources: list[str] = []
        for identifier in identifiers:
            sources = self.sources_of(identifier)
            all_sources.extend(sources)
            if not any(_matches(s, source) for s in sources if _kind(s) in VOUCHING):
                return Verdict(False, sources, _unvouched(identifier, sources, source))
        return Verdict(True, tuple(dict.fromkeys(all_sources)), "")

    def vouched(self, value: Any) -> bool:
        return self._answer(self.verdict(value))

    def vouched_by(self, value: Any, source: str) -> bool:
        return self._answer(self.verdict(value, source))

    def from_untrusted(self, value: Any) -> bool:
        """Some identifier ``value`` names was seen in untrusted output (best effort:
        prefer ``!vouched(x)``, which fails closed)."""
        try:
            identifiers = identifiers_of(value)
        except Undetermined:
            return True  # unknown provenance: it may have come from anywhere
        return any(
            _kind(source) == "untrusted"
            for identifier in identifiers
            for source in self.sources_of(identifier)
        )

    def _answer(self, verdict: Verdict) -> bool:
        if not verdict.vouched:
            self.notes.append(verdict.note)
        return verdict.vouched


def _kind(source: str) -> str:
    return source.partition(":")[0]


def _matches(source: str, wanted: str | None) -> bool:
    return wanted is None or source == wanted or _kind(source) == wanted


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unvouched(identifier: Identifier, sources: tuple[str, ...], wanted: str | None) -> str:
    name = f"{identifier.kind} {identifier.value!r}"
    seen = [s.partition(":")[2] or s for s in sources if _kind(s) == "untrusted"]
    if wanted is not None and sources:
        return f"{name} is not vouched for by {wanted} (sources: {', '.join(sources)})"
    if seen:
        return f"{name} is not vouched for: it was seen in untrusted output of {', '.join(seen)}"
    return f"{name} is not vouched for by the task, a trusted tool, an approval or the policy"


def merged(table: Provenance, additions: Iterable[tuple[Identifier, str]]) -> dict[str, list[str]]:
    """``table`` with each identifier's new source added, as stored (JSON)."""
    result = {key: list(sources) for key, sources in table.items()}
    for identifier, source in additions:
        sources = result.setdefault(identifier.key, [])
        if source not in sources:
            sources.append(source)
    return result


def domain_key(entry: str) -> str | None:
    """A policy's domain entry (``acme.example``, ``*.acme.example``, ``@acme.example``)
    as compared, or None if it is not a domain."""
    host = entry.strip().lower().removeprefix("*.").removeprefix("@").rstrip(".")
    return host if _DOMAIN.match(host) else None
