"""Which SQLite library tether and DBOS use.

On Python 3.12 and newer, DBOS's SQLite schema gives its timestamps the default
``unixepoch('subsec')``, which SQLite knows only from 3.42: on an older library (Debian
12 ships 3.40) every insert that relies on it fails (``NOT NULL constraint failed:
application_versions.version_timestamp``) and no runtime can launch. tether therefore
needs SQLite :data:`MINIMUM_SQLITE` or newer. Where the interpreter's own ``sqlite3``
links an older library, tether's SQLite URLs are given the ``sqlite+sqlean`` dialect
registered here: SQLAlchemy's own SQLite dialect over ``sqlean.dbapi2`` (the package
``sqlean-py``: the standard library's ``sqlite3`` module built with a current SQLite,
as wheels for Linux, macOS and Windows).

Every connection tether and DBOS open to one database then goes through the same
library: two copies of SQLite in one process on one file would release each other's
locks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from tether.errors import ConfigurationError

MINIMUM_SQLITE = (3, 42, 0)
"""The oldest SQLite whose SQL DBOS's schema uses (``unixepoch('subsec')``)."""
BUNDLED_DRIVER = "sqlean"
_DEFAULT_DRIVERS = {"sqlite", "sqlite+pysqlite"}


class SQLiteTooOld(ConfigurationError):
    """The interpreter's SQLite is older than tether needs, and no newer one is installed."""


class SQLeanDialect(SQLiteDialect_pysqlite):
    """SQLAlchemy's SQLite dialect over sqlean-py's ``dbapi2`` (``sqlite+sqlean://``)."""

    driver = BUNDLED_DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> ModuleType:
        return _bundled_dbapi()


registry.register(f"sqlite.{BUNDLED_DRIVER}", __name__, "SQLeanDialect")


def _bundled_dbapi() -> ModuleType:
    from sqlean import dbapi2  # type: ignore[import-untyped]

    module: ModuleType = dbapi2
    return module


def _version(module: Any) -> tuple[int, ...]:
    return tuple(module.sqlite_version_info)


def system_sqlite_is_enough() -> bool:
    """Whether the interpreter's own ``sqlite3`` links SQLite :data:`MINIMUM_SQLITE`+."""
    return _version(sqlite3) >= MINIMUM_SQLITE


def sqlite_url(url: str) -> str:
    """``url`` with a SQLite driver that has what tether and DBOS need.

    Any URL other than a plain ``sqlite://`` one is returned as it is. Raises
    :class:`SQLiteTooOld`, naming the fix, where no SQLite recent enough is installed.
    """
    parsed = sa.make_url(url)
    if parsed.drivername not in _DEFAULT_DRIVERS or system_sqlite_is_enough():
        return url
    try:
        bundled = _bundled_dbapi()
    except ImportError:
        raise SQLiteTooOld(_too_old(None)) from None
    if _version(bundled) < MINIMUM_SQLITE:
        raise SQLiteTooOld(_too_old(bundled.sqlite_version))
    return parsed.set(drivername=f"sqlite+{BUNDLED_DRIVER}").render_as_string(
        hide_password=False
    )


def shown_url(url: sa.URL) -> str:
    """``url`` as the user wrote it (without the driver :func:`sqlite_url` chose), for
    messages; passwords hidden."""
    if url.drivername == f"sqlite+{BUNDLED_DRIVER}":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=True)


def sqlite_errors() -> tuple[type[Exception], ...]:
    """The driver errors a SQLite connection of tether's can raise, whichever library."""
    errors: list[type[Exception]] = [sqlite3.Error]
    with contextlib.suppress(ImportError):
        errors.append(_bundled_dbapi().Error)
    return tuple(errors)


def _too_old(bundled_version: str | None) -> str:
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    needed = ".".join(map(str, MINIMUM_SQLITE))
    found = (
        "sqlean-py is not installed"
        if bundled_version is None
        else f"sqlean-py brings SQLite {bundled_version}"
    )
    return (
        f"{python}'s sqlite3 module uses SQLite {sqlite3.sqlite_version}, and tether (its "
        f"durable runs on DBOS) needs SQLite {needed} or newer; {found}. Fix: "
        "`pip install 'sqlean-py>=3.45'` (a current SQLite, installed with tether), "
        "or use a Python built with SQLite 3.42 or newer, or a PostgreSQL database "
        "(TETHER_DATABASE_URL=postgresql+psycopg://...)."
    )
