"""The error a malformed OpenAPI document raises."""

from __future__ import annotations

from tether.errors import ConfigurationError


class OpenAPIDocumentError(ConfigurationError):
    """An OpenAPI document cannot be turned into tools.

    ``file`` is the document, ``pointer`` the JSON pointer of the offending part
    (``#/paths/~1parties/get``), ``problem`` what is wrong and how to fix it.
    """

    def __init__(self, file: str, pointer: str, problem: str) -> None:
        super().__init__(file, pointer, problem)
        self.file = file
        self.pointer = pointer
        self.problem = problem

    def __str__(self) -> str:
        where = f"{self.file} at {self.pointer}" if self.pointer else self.file
        return f"OpenAPI document {where}: {self.problem}"
