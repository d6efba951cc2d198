"""The latency benchmark compares like with like: Cedar and tether decide its workload alike.

Only agreement is checked here; the benchmark's timings are never asserted.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("cedarpy")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gate.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tether_bench_gate", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def test_cedar_and_tether_decide_the_workload_alike() -> None:
    bench = _load_bench()
    policy = bench.load_tether_policy()
    workload = bench.build_workload(policy)
    cedar = bench.CedarEngine.load(policy)

    disagreements, _ = bench.compare(workload, bench.tether_decider(policy), cedar.decider())

    assert disagreements == []
