"""Action evaluations: golden scenarios run through the real gate and runtime.

```python
from tether.evals import load_suite, run_suite, result_json

suite = load_suite("examples/support-desk/evals")
result = run_suite(suite, k=3, workers=2)
print(result_json(result)["metrics"]["pass_hat_k"])
```

See ``docs/evals.md`` for the scenario format, the matchers, the metrics and the CLI.
"""

from tether.evals._compare import Change, Comparison, compare
from tether.evals._errors import ScenarioError, ScenarioIssue
from tether.evals._load import Scenario, Suite, load_suite, scenario_files
from tether.evals._matchers import CallMatcher, matches
from tether.evals._metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, compute_metrics, pass_hat_k
from tether.evals._report import (
    FORMAT,
    html_report,
    junit_xml,
    load_result,
    print_summary,
    result_json,
    store_result,
    write_json,
)
from tether.evals._results import Action, Measures, ScenarioResult, TrialResult
from tether.evals._runner import SuiteResult, TrialRunner, run_suite, timeout_text
from tether.evals._scenario import ScenarioSpec, scenario_json_schema

__all__ = [
    "FORMAT",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "Action",
    "CallMatcher",
    "Change",
    "Comparison",
    "Measures",
    "Scenario",
    "ScenarioError",
    "ScenarioIssue",
    "ScenarioResult",
    "ScenarioSpec",
    "Suite",
    "SuiteResult",
    "TrialResult",
    "TrialRunner",
    "compare",
    "compute_metrics",
    "html_report",
    "junit_xml",
    "load_result",
    "load_suite",
    "matches",
    "pass_hat_k",
    "print_summary",
    "result_json",
    "run_suite",
    "scenario_files",
    "scenario_json_schema",
    "store_result",
    "timeout_text",
    "write_json",
]
