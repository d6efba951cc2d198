"""Reports of a suite's result: JSON (the stored format), JUnit XML, HTML, the terminal."""

from __future__ import annotations

import datetime as _dt
import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tether.errors import ConfigurationError
from tether.evals._injection import injection_report
from tether.evals._metrics import compute_metrics
from tether.evals._runner import SuiteResult

FORMAT = "tether-eval/1"
_STYLE = {"passed": "green", "failed": "red", "errored": "magenta"}


def result_json(result: SuiteResult) -> dict[str, Any]:
    """The result as stored in ``.tether/evals/*.json`` (format ``tether-eval/1``)."""
    scenarios = [scenario.to_dict() for scenario in result.scenarios]
    return {
        "format": FORMAT,
        "suite": result.suite,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "k": result.k,
        "trials": result.trials,
        "metrics": compute_metrics(result.scenarios, result.k),
        "summary": {
            status: sum(1 for s in scenarios if s["status"] == status)
            for status in ("passed", "failed", "errored")
        },
        "injection": injection_report(result.scenarios),
        "scenarios": scenarios,
    }


INJECTION_COLUMNS = (
    ("attack_trials", "attacks"),
    ("attacker_actions_unapproved", "unapproved"),
    ("attacker_actions_approved", "approved"),
    ("benign_trials", "benign"),
    ("benign_clean_rate", "clean"),
    ("approval_load", "load"),
    ("approval_load_attack", "load/attack"),
)
"""The injection figures every report shows, and their headings: attacker actions that
ran with no person / with a person's approval; benign tasks done with no unwarranted
approval (clean); approvals per benign task (load) and per attack."""


def _injection_rows(data: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    report = data.get("injection")
    if not report:
        return []
    rows = [("all", report["all"])]
    rows += [(f"suite {name}", figures) for name, figures in report["suites"].items()]
    rows += [(f"threat {name}", figures) for name, figures in report["threats"].items()]
    rows += [(f"carrier {name}", figures) for name, figures in report["carriers"].items()]
    return rows


def write_json(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def store_result(data: dict[str, Any], folder: Path) -> Path:
    """Keep a result in ``folder`` as ``<UTC timestamp>.json`` (the web console lists them)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return write_json(data, folder / f"{stamp}.json")


def load_result(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read eval result {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(f"{path} is not a tether eval result (format {FORMAT})")
    return data


# --- JUnit XML ---------------------------------------------------------------------------


def junit_xml(data: dict[str, Any]) -> str:
    """One test case per scenario; a failure lists every failed trial's reasons."""
    summary = data["summary"]
    seconds = sum(
        trial["latency_ms"] for scenario in data["scenarios"] for trial in scenario["trials"]
    )
    suite = ET.Element(
        "testsuite",
        name=data["suite"],
        tests=str(len(data["scenarios"])),
        failures=str(summary["failed"]),
        errors=str(summary["errored"]),
        skipped="0",
        time=f"{seconds / 1000:.3f}",
        timestamp=data["started_at"],
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in data["metrics"].items():
        ET.SubElement(properties, "property", name=name, value=f"{value:g}")
    for label, figures in _injection_rows(data):
        for key, _ in INJECTION_COLUMNS:
            name = f"injection {label}: {key}"
            ET.SubElement(properties, "property", name=name, value=f"{figures[key]:g}")
    for scenario in data["scenarios"]:
        _testcase(suite, scenario)
    root = ET.Element("testsuites", name="tether eval")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, scenario: dict[str, Any]) -> None:
    seconds = sum(trial["latency_ms"] for trial in scenario["trials"]) / 1000
    case = ET.SubElement(
        suite,
        "testcase",
        classname=Path(scenario["file"]).parent.name or "scenarios",
        name=scenario["id"],
        file=scenario["file"],
        line=str(scenario["line"]),
        time=f"{seconds:.3f}",
    )
    lines = [
        f"trial {number}: {failure}"
        for number, trial in enumerate(scenario["trials"], 1)
        for failure in trial["failures"]
    ]
    if scenario["status"] == "errored":
        errors = [t["error"] for t in scenario["trials"] if t["error"]]
        element = ET.SubElement(case, "error", message=errors[0], type="ScenarioError")
        element.text = "\n".join(lines)
    elif scenario["status"] == "failed":
        passed = sum(1 for trial in scenario["trials"] if trial["passed"])
        message = f"{passed}/{len(scenario['trials'])} trials passed: {lines[0] if lines else ''}"
        element = ET.SubElement(case, "failure", message=message, type="ScenarioFailed")
        element.text = "\n".join(lines)


# --- the terminal ----------------------------------------------------------------------------


def print_summary(data: dict[str, Any], console: Console) -> None:
    """A table of the scenarios (failures first in detail), then the metrics."""
    table = Table(title=f"tether eval: {data['suite']} (k={data['k']})", expand=False)
    for column in ("scenario", "status", "passed", "P", "R", "first problem"):
        table.add_column(column, overflow="fold")
    for scenario in data["scenarios"]:
        table.add_row(*_row(scenario))
    console.print(table)
    metrics = Table(title="metrics", show_header=False)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in data["metrics"].items():
        metrics.add_row(name, f"{value:.3f}" if value % 1 else f"{value:g}")
    console.print(metrics)
    _print_injection(data, console)
    summary = data["summary"]
    console.print(
        Text.assemble(
            (f"{summary['passed']} passed", "green"),
            ", ",
            (f"{summary['failed']} failed", "red" if summary["failed"] else ""),
            ", ",
            (f"{summary['errored']} errored", "magenta" if summary["errored"] else ""),
            f" ({len(data['scenarios'])} scenarios, {data['trials']} trials)",
            f"; pass^{data['k']} = {data['metrics']['pass_hat_k']:.3f}",
        )
    )


def _print_injection(data: dict[str, Any], console: Console) -> None:
    rows = _injection_rows(data)
    if not rows:
        return
    table = Table(
        title="injection suite",
        caption="unapproved / approved: attacker actions that ran with no person / that a "
        "person approved; clean: benign tasks done with no unwarranted approval; load: "
        "approvals per task",
        expand=False,
    )
    table.add_column("", no_wrap=True)
    for _, heading in INJECTION_COLUMNS:
        table.add_column(heading, justify="right", overflow="fold")
    for label, figures in rows:
        table.add_row(label, *(_number(figures[key]) for key, _ in INJECTION_COLUMNS))
    console.print(table)


def _number(value: float) -> str:
    return f"{value:.3f}" if value % 1 else f"{value:g}"


def _row(scenario: dict[str, Any]) -> tuple[str | Text, ...]:
    trials = scenario["trials"]
    measures = [trial["measures"] for trial in trials]
    tp = sum(m["true_positives"] for m in measures)
    made = tp + sum(m["false_positives"] for m in measures)
    wanted = tp + sum(m["false_negatives"] for m in measures)
    problems = [failure for trial in trials for failure in trial["failures"]]
    passed = sum(1 for trial in trials if trial["passed"])
    return (
        scenario["id"],
        Text(scenario["status"], style=_STYLE[scenario["status"]]),
        f"{passed}/{len(trials)}",
        f"{tp / made:.2f}" if made else "-",
        f"{tp / wanted:.2f}" if wanted else "-",
        problems[0] if problems else "",
    )


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d232b}
h1{font-size:1.4rem}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #d5dae1;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}.passed{color:#1a7f37}.failed{color:#cf222e}.errored{color:#8250df}
details{margin:.2rem 0}code{font-size:.85rem;white-space:pre-wrap}
.deny{color:#cf222e}.needs_approval{color:#9a6700}.allow{color:#1a7f37}
"""


def html_report(data: dict[str, Any]) -> str:
    """A static page: the metrics, then every scenario with its trials' calls and failures."""
    e = html.escape
    summary = data["summary"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>tether eval: {e(data['suite'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>tether eval: {e(data['suite'])}</h1>",
        f"<p>{e(data['started_at'])} to {e(data['finished_at'])}; k={data['k']}, "
        f"{data['trials']} trials; <span class='passed'>{summary['passed']} passed</span>, "
        f"<span class='failed'>{summary['failed']} failed</span>, "
        f"<span class='errored'>{summary['errored']} errored</span></p>",
        "<h2>Metrics</h2><table><tr><th>metric</th><th>value</th></tr>",
        *(
            f"<tr><td>{e(name)}</td><td>{value:g}</td></tr>"
            for name, value in data["metrics"].items()
        ),
        "</table>",
        _html_injection(data),
        "<h2>Scenarios</h2><table><tr><th>scenario</th><th>status</th>"
        "<th>pass rate</th><th>trials</th></tr>",
    ]
    for scenario in data["scenarios"]:
        parts.append(_html_scenario(scenario))
    parts.append("</table></body></html>\n")
    return "".join(parts)


def _html_injection(data: dict[str, Any]) -> str:
    rows = _injection_rows(data)
    if not rows:
        return ""
    e = html.escape
    head = "".join(f"<th>{e(heading)}</th>" for _, heading in INJECTION_COLUMNS)
    body = "".join(
        f"<tr><td>{e(label)}</td>"
        + "".join(f"<td>{_number(figures[key])}</td>" for key, _ in INJECTION_COLUMNS)
        + "</tr>"
        for label, figures in rows
    )
    return f"<h2>Injection suite</h2><table><tr><th></th>{head}</tr>{body}</table>"


def _html_scenario(scenario: dict[str, Any]) -> str:
    e = html.escape
    status = scenario["status"]
    trials = "".join(
        _html_trial(number, trial) for number, trial in enumerate(scenario["trials"], 1)
    )
    return (
        f"<tr id='{e(scenario['id'])}'><td><b>{e(scenario['id'])}</b><br>"
        f"<small>{e(scenario['file'])}:{scenario['line']}</small><br>"
        f"{e(scenario.get('description', ''))}</td>"
        f"<td class='{status}'>{status}</td><td>{scenario['pass_rate']:.2f}</td>"
        f"<td>{trials}</td></tr>"
    )


def _html_trial(number: int, trial: dict[str, Any]) -> str:
    e = html.escape
    verdict = "passed" if trial["passed"] else ("errored" if trial["error"] else "failed")
    calls = "".join(
        f"<li><code>{e(action['tool'])}({e(json.dumps(action['args'], ensure_ascii=False))})"
        f"</code> <span class='{e(str(action['decision']))}'>{e(str(action['decision']))}</span>"
        f"{' executed' if action['executed'] else ''}</li>"
        for action in trial["actions"]
    )
    failures = "".join(f"<li class='failed'>{e(failure)}</li>" for failure in trial["failures"])
    run = trial.get("run_id")
    ended = (
        f"<p>run {e(run)} ended {e(str(trial.get('run_status')))}"
        f"{': ' + e(trial['run_error']) if trial.get('run_error') else ''}</p>"
        if run
        else ""
    )
    return (
        f"<details{' open' if verdict != 'passed' else ''}><summary>trial {number}: "
        f"<span class='{verdict}'>{verdict}</span>, {trial['latency_ms']:.0f} ms</summary>"
        f"<ul>{calls or '<li>no calls</li>'}</ul>"
        f"{f'<ul>{failures}</ul>' if failures else ''}{ended}"
        f"<p>answer: {e(trial.get('output') or '')}</p></details>"
    )
