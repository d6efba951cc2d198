"""``tether eval`` and ``tether eval-diff``: run golden scenarios, report, gate CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tether.agents import resolve_model
from tether.cli._common import err, out, styled
from tether.errors import ConfigurationError
from tether.evals import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    Scenario,
    ScenarioError,
    TrialResult,
    compare,
    html_report,
    junit_xml,
    load_result,
    load_suite,
    print_summary,
    result_json,
    run_suite,
    store_result,
    timeout_text,
    write_json,
)

DEFAULT_STORE = Path(".tether/evals")


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``eval-diff`` to the ``tether`` command."""
    app.command("eval")(eval_)
    app.command("eval-diff")(eval_diff)


def _thresholds(values: list[str] | None, option: str, allowed: frozenset[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in values or []:
        name, sep, number = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"write METRIC=VALUE, not {item!r}", param_hint=option)
        if name not in allowed:
            names = ", ".join(sorted(allowed))
            raise typer.BadParameter(
                f"unknown metric {name!r}; use one of {names}", param_hint=option
            )
        try:
            found[name] = float(number)
        except ValueError:
            raise typer.BadParameter(f"{number!r} is not a number", param_hint=option) from None
    return found


def _progress_bar(total: int, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not enabled,
    )


def eval_(
    path: Annotated[Path, typer.Argument(help="A scenario file, or a folder of them.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Trials per scenario (pass^k).")] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the result.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML (for CI).")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="Write an HTML report.")] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(help="METRIC=VALUE: fail when the metric is below (repeatable)."),
    ] = None,
    fail_over: Annotated[
        list[str] | None,
        typer.Option(help="METRIC=VALUE: fail when the metric is above (errored, latency…)."),
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A stored result: show what regressed since.")
    ] = None,
    store: Annotated[Path, typer.Option(help="Where results are kept.")] = DEFAULT_STORE,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not keep the result.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="tether.yaml for every scenario (default: theirs)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds a run may take; a run still going is cancelled.")
    ] = 60.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    model: Annotated[
        str | None,
        typer.Option(
            help="Play every scenario with this model instead of its own, e.g. "
            "openai-compatible:MODEL@http://127.0.0.1:8080/v1 (combine with --skip-tag "
            "misbehaving: those scripts test the guardrails, not a model)."
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only scenarios with this tag (repeatable: any).")
    ] = None,
    skip_tag: Annotated[
        list[str] | None, typer.Option(help="Leave out scenarios with this tag (repeatable).")
    ] = None,
) -> None:
    """Run golden scenarios through the real gate and runtime; report and gate on metrics.

    Exits 1 when a scenario fails (or, with --fail-under/--fail-over, when a threshold
    is not met, or a --baseline metric regressed), 2 when scenarios are invalid.
    """
    under = _thresholds(fail_under, "--fail-under", HIGHER_IS_BETTER)
    over = _thresholds(
        fail_over,
        "--fail-over",
        LOWER_IS_BETTER
        | {
            "latency_ms_mean",
            "latency_ms_p95",
            "policy_denials",
            "forbidden_attempted",
            "tokens_total",
            "cost_total",
            "attacker_actions_approved",
            "approval_load",
            "approval_load_attack",
        },
    )
    try:
        suite = load_suite(path, config=config).only(tags=tag or (), skip_tags=skip_tag or ())
        if model is not None:
            resolve_model(model)  # a bad name is refused before anything runs
            suite = suite.with_model(model)
        old = load_result(baseline) if baseline else None
    except ScenarioError as exc:
        for issue in exc.issues:
            err.print(styled("red", "error", str(issue)), soft_wrap=True)
        raise typer.Exit(2) from None
    except ConfigurationError as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None
    total = len(suite.scenarios) * k
    with _progress_bar(total, progress and err.is_terminal) as bar:
        task = bar.add_task(f"{suite.name}", total=total)

        def advance(scenario: Scenario, trial: TrialResult) -> None:
            bar.advance(task)
            if trial.timed_out:
                err.print(
                    styled(
                        "yellow",
                        "timed out",
                        f"{scenario.id}: {timeout_text(trial.run_id or '?', timeout)}",
                    ),
                    soft_wrap=True,
                )

        result = run_suite(suite, k=k, workers=workers, on_trial=advance, timeout_seconds=timeout)
    data = result_json(result)
    print_summary(data, out)
    _write_reports(data, json_file, junit, html_file, None if no_store else store)
    failed = _gate(data, under, over)
    if old is not None:
        failed = _show_comparison(old, data) or failed
    if failed:
        raise typer.Exit(1)


def _write_reports(
    data: dict[str, Any],
    json_file: Path | None,
    junit: Path | None,
    html_file: Path | None,
    store: Path | None,
) -> None:
    if json_file is not None:
        write_json(data, json_file)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(junit_xml(data), encoding="utf-8")
    if html_file is not None:
        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(html_report(data), encoding="utf-8")
    if store is not None:
        stored = store_result(data, store)
        out.print(f"result stored in {stored}")


def _gate(data: dict[str, Any], under: dict[str, float], over: dict[str, float]) -> bool:
    """Whether the run fails: thresholds when given, else any scenario not passed."""
    metrics = data["metrics"]
    if not under and not over:
        return any(scenario["status"] != "passed" for scenario in data["scenarios"])
    failed = False
    for name, limit in under.items():
        value = metrics.get(name, 0.0)
        if value < limit:
            err.print(styled("red", "threshold", f"{name} = {value:g} is below {limit:g}"))
            failed = True
    for name, limit in over.items():
        value = metrics.get(name, 0.0)
        if value > limit:
            err.print(styled("red", "threshold", f"{name} = {value:g} is above {limit:g}"))
            failed = True
    return failed


def _show_comparison(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Print the changes since ``old``; whether anything regressed."""
    comparison = compare(old, new)
    changes = [*comparison.metrics, *comparison.scenarios]
    if not changes:
        out.print("no change from the baseline")
        return False
    table = Table("what", "before", "after", "", title="compared with the baseline")
    for change in changes:
        table.add_row(
            change.what,
            change.old,
            change.new,
            styled("red", "regressed", "") if change.regression else styled("green", "ok", ""),
        )
    out.print(table)
    regressions = comparison.regressions
    if regressions:
        names = ", ".join(change.what for change in regressions)
        err.print(styled("red", "regressed", names), soft_wrap=True)
    return bool(regressions)


def eval_diff(
    old: Annotated[Path, typer.Argument(help="The earlier result (JSON).")],
    new: Annotated[Path, typer.Argument(help="The later result (JSON).")],
) -> None:
    """Compare two eval results; exit 1 when a metric or a scenario regressed."""
    try:
        before, after = load_result(old), load_result(new)
    except ConfigurationError as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None
    if _show_comparison(before, after):
        raise typer.Exit(1)
