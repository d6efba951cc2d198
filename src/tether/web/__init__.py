"""The operator console: approval inbox, run timelines, audit explorer, stop switch and
evaluation reports, as server-rendered pages and a JSON API (``tether serve``).

A thin client of the same Python API the CLI uses: the web user's name is the approver
or operator the runtime records. Needs the ``web`` extra: ``pip install tether[web]``.
"""

from tether.web._app import app_from_config, create_app, reload_users
from tether.web._auth import User, Users, hash_password, new_token, token_digest

__all__ = [
    "User",
    "Users",
    "app_from_config",
    "create_app",
    "hash_password",
    "new_token",
    "reload_users",
    "token_digest",
]
