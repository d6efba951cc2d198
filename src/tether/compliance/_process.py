"""A short description of a business process, for ``tether assess`` when there is no
``tether.yaml`` yet: its steps, the systems they touch, and what each step does.

```yaml
process: Refund duplicate charges
steps:
  - {name: find the customer, system: crm, data: personal}
  - {name: credit the invoice, system: erp, changes: true, reversible: false, data: financial}
  - {name: tell the customer, system: email, reaches_outside: true, data: personal}
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.errors import ConfigurationError

Sensitivity = Literal["internal", "personal", "financial", "secret"]


class StepSpec(BaseModel):
    """One step of the process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """What the step does, in a few words (``credit the invoice``)."""
    system: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    """The system it touches (``crm``, ``erp``, ``email``)."""
    changes: bool = False
    """It changes something in the system (a record, a state)."""
    reaches_outside: bool = False
    """It sends something outside the company (an email, a payment, a post)."""
    reversible: bool = True
    """What it changes or sends can be undone."""
    outside_content: bool = False
    """It reads content that comes from outside (inbound mail, web pages, uploads)."""
    data: Sensitivity = "internal"
    """The most sensitive data it handles."""
    tool: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    """The tool's name, if it has one already (default: ``system.the_step_name``)."""

    @property
    def tool_name(self) -> str:
        if self.tool:
            return self.tool
        words = re.sub(r"[^A-Za-z0-9]+", "_", self.name.lower()).strip("_")
        return f"{self.system}.{words or 'step'}"


class ProcessSpec(BaseModel):
    """A process description file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    process: str = Field(min_length=1)
    """The process's name."""
    description: str | None = None
    steps: list[StepSpec] = Field(min_length=1)


def is_process_file(path: Path) -> bool:
    """Whether ``path`` looks like a process description (it has ``steps:``), not a
    ``tether.yaml``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "steps" in data


def load_process(path: str | Path) -> ProcessSpec:
    """Read and check a process description; :class:`ConfigurationError` says what is wrong."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        return ProcessSpec.model_validate(data)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {source}: {exc.strerror}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"{source} is not a valid process description: {exc}") from None
