"""The fast path means exactly what CEL means: compared with the CEL library on generated cases."""

from __future__ import annotations

from typing import Any

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.policy._cel import Activation, compile_condition
from tether.policy._fastpath import Unsupported, compile_fast

VARIABLES = frozenset({"args", "principal", "resource"})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from(["", "emea", "us", "a@acme.example", "Z", "emeA"]),
)
literals = st.one_of(
    st.sampled_from(
        ["true", "false", "null", "0", "1", "500", "2.5", "500.0", '"emea"', "'us'", '""']
    ),
    st.lists(st.sampled_from(['"emea"', '"us"', "1", "2.5", "true"]), max_size=3).map(
        lambda items: "[" + ", ".join(items) + "]"
    ),
)
paths = st.sampled_from(
    [
        "args.amount",
        "args.team",
        "args.flag",
        "args.missing",
        "principal.attributes.team",
        "resource.team",
        "resource.tags",
        "args",
    ]
)
operands = st.one_of(paths, literals)
comparisons = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
number_sides = st.sampled_from(["args.amount", "0", "1", "500", "2.5", "500.0", "-0.0"])
string_sides = st.sampled_from(
    ["args.team", "principal.attributes.team", "resource.team", '"emea"', "'us'", '""']
)
typed_relations = st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", number_sides, comparisons, number_sides),
    st.builds(lambda a, op, b: f"{a} {op} {b}", string_sides, comparisons, string_sides),
    st.builds(
        lambda a, op, b: f"{a} {op} {b}",
        st.sampled_from(["args.flag", "true", "false"]),
        st.sampled_from(["==", "!="]),
        st.sampled_from(["args.flag", "true", "false"]),
    ),
    st.builds(
        lambda a, b: f"{a} in {b}",
        string_sides,
        st.sampled_from(["resource.tags", '["emea", "us"]', "[]", '{"emea": 1}']),
    ),
)
any_relations = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    operands,
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]),
    operands,
)
relations = st.one_of(typed_relations, typed_relations, any_relations)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, b: f"{a} && {b}", children, children),
        st.builds(lambda a, b: f"({a} || {b})", children, children),
        children.map(lambda a: f"!({a})"),
    )


expressions = st.recursive(st.one_of(relations, st.just("args.flag")), combine, max_leaves=4)
numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from([500, 500.0, 2.5, 1, 0]),
)
teams = st.sampled_from(["emea", "us", "", "EMEA"])


def mostly(typical: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the type a field should have, sometimes anything (to reach the edges)."""
    return st.one_of(typical, typical, typical, scalars)


values = st.fixed_dictionaries(
    {
        "args": st.fixed_dictionaries(
            {"amount": mostly(numbers), "team": mostly(teams), "flag": mostly(st.booleans())}
        ),
        "principal": st.fixed_dictionaries(
            {"attributes": st.fixed_dictionaries({"team": mostly(teams)})}
        ),
        "resource": st.fixed_dictionaries(
            {
                "team": mostly(teams),
                "tags": st.lists(mostly(teams), max_size=3),
            }
        ),
    }
)


def library(source: str, data: dict[str, Any]) -> tuple[str, Any]:
    try:
        return ("value", cel.compile(source).execute(data))
    except Exception as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=3000, deadline=None)
@given(source=expressions, data=values)
def test_fast_path_agrees_with_the_cel_library(source: str, data: dict[str, Any]) -> None:
    try:
        program = cel.compile(source)
    except Exception:
        return  # not valid CEL: the policy loader refuses it
    del program
    fast = compile_fast(source, VARIABLES)
    if fast is None:
        return
    try:
        answer = fast(data)
    except Unsupported:
        return  # the library decides these
    kind, expected = library(source, data)
    assert kind == "value", f"{source!r} on {data}: fast path said {answer!r}, CEL failed"
    assert answer == expected and type(answer) is type(expected), (source, data)


@pytest.mark.parametrize(
    "source",
    [
        "args.amount <= 500.0",
        "resource.team == principal.attributes.team",
        "!run.untrusted && args.to == 'x'",
        '"support" in principal.roles',
        "args.amount > 200.0 || run.untrusted",
    ],
)
def test_common_conditions_take_the_fast_path(source: str) -> None:
    assert compile_condition(source).fast is not None


@pytest.mark.parametrize(
    "source",
    [
        "args.to.all(r, r.endsWith('@acme.example'))",
        "size(args.to) < 3",
        "args.amount + 1.0 > 2.0",
        "has(args.x)",
        "now > timestamp('2026-01-01T00:00:00Z')",
        'args.name == "a\\"b"',
    ],
)
def test_everything_else_goes_to_cel(source: str) -> None:
    assert compile_condition(source).fast is None


def test_a_missing_field_is_still_an_error() -> None:
    condition = compile_condition("args.amount <= 500.0")
    activation = Activation({"args": dict})
    with pytest.raises(ValueError, match="missing"):
        condition.evaluate(activation)
