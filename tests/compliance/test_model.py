"""An obligation's status: met without gaps; a gap when a required control is missing;
partial when the controls are there but the evidence falls short."""

from __future__ import annotations

from tether.compliance import Control, Obligation


def obligation(*controls: Control, gaps: tuple[str, ...] = ()) -> Obligation:
    return Obligation(
        id="X", framework="f", title="t", asks="a", controls=controls, evidence=(), gaps=gaps
    )


def test_statuses() -> None:
    present = Control(name="trail", configured=True, detail="")
    missing = Control(name="approvals", configured=False, detail="")
    optional = Control(name="telemetry", configured=False, detail="", required=False)
    assert obligation(present, optional).status == "met"
    assert obligation(present, optional, gaps=("no events",)).status == "partial"
    assert obligation(present, missing, gaps=("no approvals",)).status == "gap"
    assert obligation(present, optional, gaps=("x",)).to_dict()["controls"][1]["required"] is False
