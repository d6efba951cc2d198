"""The shipped JSON Schema is the one the loader uses, and it accepts the golden set."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.evals.conftest import GOLDEN, ROOT
from tether.evals import scenario_files, scenario_json_schema


def test_shipped_schema_is_generated_from_the_models() -> None:
    shipped = ROOT / "src" / "tether" / "evals" / "scenario.schema.json"
    assert json.loads(shipped.read_text()) == scenario_json_schema()


def test_schema_validates_the_golden_set() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    files = scenario_files(GOLDEN)
    assert len(files) >= 30
    for file in files:
        jsonschema.validate(yaml.safe_load(file.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"agent": "a", "principal": "p", "task": "t", "expekt": {}}, schema)
