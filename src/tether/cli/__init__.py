"""The ``tether`` command: a thin client of the Python API."""

from tether.cli._app import app, main

__all__ = ["app", "main"]
