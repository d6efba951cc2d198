"""The compliance report as one self-contained HTML page (no scripts, no outside
resources), and as JSON."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from tether.compliance._model import ComplianceReport, Obligation

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330}
h1{margin-bottom:.2rem} .muted{color:#5b6475}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid #dde2ea;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;background:#f5f7fa} code{font-size:.85rem}
.status{display:inline-block;padding:0 .5rem;border-radius:1rem;font-weight:600;font-size:.8rem}
.met{background:#e6f4ec;color:#1d6b3f} .partial{background:#fff6e0;color:#8a5a00}
.gap{background:#fdecea;color:#a4271b} .no{color:#a4271b} .gaps li{color:#a4271b}
section{border-top:2px solid #dde2ea;margin-top:1.5rem}
"""


def render_json(report: ComplianceReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def render_html(report: ComplianceReport) -> str:
    data = report.to_dict()
    summary = data["summary"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>tether compliance report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Compliance report</h1>",
        f"<p class='muted'>{_e(report.config)} · policy {_e(report.policy_version)} · "
        f"from {_e(data['range']['since'] or 'the beginning')} "
        f"to {_e(data['range']['until'] or 'now')} · generated {_e(data['generated_at'])}</p>",
        "<p>",
        " · ".join(
            f"<span class='status {status}'>{summary[status]} {status}</span>"
            for status in ("met", "partial", "gap")
        ),
        f" · {report.events_in_range} events in range · verification "
        f"<strong>{'intact' if report.verification.get('intact') else 'NOT intact'}</strong>"
        f" · assurance <strong>{_e(report.assurance)}</strong></p>",
    ]
    if report.findings:
        parts.append("<ul class='gaps'>")
        parts += [f"<li>{_e(finding)}</li>" for finding in report.findings]
        parts.append("</ul>")
    parts.append("<table><tr><th>obligation</th><th>status</th><th>gaps</th></tr>")
    for obligation in report.obligations:
        parts.append(
            f"<tr><td><a href='#{_e(obligation.id)}'>{_e(obligation.id)}</a> "
            f"{_e(obligation.title)}</td><td>{_badge(obligation)}</td>"
            f"<td>{len(obligation.gaps)}</td></tr>"
        )
    parts.append("</table>")
    parts += [_section(obligation) for obligation in report.obligations]
    parts.append("</body></html>\n")
    return "".join(parts)


def _section(obligation: Obligation) -> str:
    rows = [
        f"<section id='{_e(obligation.id)}'>",
        f"<h2>{_e(obligation.id)} {_e(obligation.title)} {_badge(obligation)}</h2>",
        f"<p class='muted'>{_e(obligation.framework)}: {_e(obligation.asks)}</p>",
        "<h3>Controls</h3><table><tr><th>control</th><th>configured</th><th>detail</th></tr>",
    ]
    for control in obligation.controls:
        mark = (
            "yes"
            if control.configured
            else "no (optional)"
            if not control.required
            else "<span class='no'>no</span>"
        )
        rows.append(
            f"<tr><td>{_e(control.name)}</td><td>{mark}</td><td>{_e(control.detail)}</td></tr>"
        )
    rows.append("</table><h3>Evidence</h3><table><tr><th>figure</th><th>value</th>")
    rows.append("<th>from</th></tr>")
    for item in obligation.evidence:
        rows.append(
            f"<tr><td>{_e(item.name)}</td><td><code>{_e(_value(item.value))}</code></td>"
            f"<td class='muted'>{_e(item.source)}</td></tr>"
        )
    rows.append("</table>")
    if obligation.gaps:
        rows.append("<h3>Gaps</h3><ul class='gaps'>")
        rows += [f"<li>{_e(gap)}</li>" for gap in obligation.gaps]
        rows.append("</ul>")
    rows.append("</section>")
    return "".join(rows)


def _badge(obligation: Obligation) -> str:
    return f"<span class='status {obligation.status}'>{obligation.status}</span>"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _e(text: object) -> str:
    return escape(str(text), quote=True)
