"""Property tests: unit conversion and the expression checker/evaluator never crash and never
evaluate anything but arithmetic on the row's numbers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.connectors import expressions, units
from gateway.connectors.config import Column, unit_factor
from gateway.connectors.datasets import FIELD_UNITS

ALL = sorted(units.units())
# No per-example deadline: eight engineers share two cores, and a slow example is not a bug.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["a", "b", "完工数"]
finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


def test_every_field_unit_is_in_the_table() -> None:
    assert all(units.lookup(u) is not None for u in FIELD_UNITS.values())
    assert units.factor("h", "min") == 60 and units.factor("万元", "CNY") == 10_000 and units.factor("t", "kg") == 1000
    assert units.factor("kg", "t") == 0.001 and units.factor("小时", "min") == 60


@SETTINGS
@given(st.sampled_from(ALL), st.sampled_from(ALL), finite)
def test_conversion_round_trips_within_a_dimension(a: str, b: str, v: float) -> None:
    ua, ub = units.lookup(a), units.lookup(b)
    assert ua is not None and ub is not None
    if ua.dimension != ub.dimension:
        with pytest.raises(ValueError, match=f"a {ub.dimension} unit"):
            units.factor(a, b)
        return
    there = v * units.factor(a, b)
    assert math.isclose(there * units.factor(b, a), v, rel_tol=1e-12, abs_tol=1e-12)
    assert units.factor(a, a) == 1.0


@SETTINGS
@given(st.text(max_size=12), st.sampled_from(sorted(set(FIELD_UNITS.values()))),
       st.floats(min_value=1e-6, max_value=1e6))
def test_any_unit_name_converts_or_says_which_units_are_known(name: str, field_unit: str, scale: float) -> None:
    try:
        f = unit_factor(Column(column="x", unit=name, scale=scale), field_unit)
    except ValueError as exc:
        assert "unit" in str(exc)
    else:
        assert f > 0 and math.isfinite(f)


@SETTINGS
@given(st.text(max_size=60), st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), finite)))
def test_checker_accepts_only_arithmetic_and_evaluation_never_crashes(expr: str, row: dict[str, Any]) -> None:
    try:
        used = expressions.check(expr, NAMES)
    except expressions.ExpressionError:
        return
    assert used <= set(NAMES)
    try:
        out = expressions.evaluate(expr, row)
    except ValueError:
        return  # division by zero, an overflow: the row is quarantined with that reason
    assert out is None or (isinstance(out, float) and math.isfinite(out))


# Arithmetic trees, with a reference evaluator that is not eval.
leaf = st.one_of(st.sampled_from(NAMES), st.integers(0, 1000).map(str), st.floats(0, 100).map(lambda x: f"{x:.3f}"))


def _tree(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.tuples(st.sampled_from("+-*/"), children, children),
                     st.tuples(st.just("neg"), children),
                     st.tuples(st.sampled_from(["min", "max"]), children, children),
                     st.tuples(st.just("abs"), children))


trees = st.recursive(leaf, _tree, max_leaves=8)


def render(t: Any) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "neg":
        return f"(-{render(t[1])})"
    if t[0] in ("min", "max", "abs"):
        return f"{t[0]}({', '.join(render(x) for x in t[1:])})"
    return f"({render(t[1])} {t[0]} {render(t[2])})"


def reference(t: Any, row: dict[str, float]) -> float:
    if isinstance(t, str):
        return row[t] if t in row else float(t)
    if t[0] == "neg":
        return -reference(t[1], row)
    if t[0] == "abs":
        return abs(reference(t[1], row))
    a, b = reference(t[1], row), reference(t[2], row)
    if t[0] in ("min", "max"):
        return min(a, b) if t[0] == "min" else max(a, b)
    if t[0] == "/":
        if b == 0:
            raise ZeroDivisionError
        return a / b
    return {"+": a + b, "-": a - b, "*": a * b}[t[0]]


@SETTINGS
@given(trees, st.fixed_dictionaries({n: st.floats(-1e3, 1e3) for n in NAMES}))
def test_arithmetic_gives_what_arithmetic_gives(t: Any, row: dict[str, float]) -> None:
    expr = render(t)
    assert expressions.check(expr, NAMES) <= set(NAMES)
    try:
        want = reference(t, row)
    except ZeroDivisionError:
        with pytest.raises(ValueError, match="division by zero"):
            expressions.evaluate(expr, row)
        return
    if not math.isfinite(want):
        with pytest.raises(ValueError):
            expressions.evaluate(expr, row)
        return
    got = expressions.evaluate(expr, row)
    assert got is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


HOSTILE = ["__import__('os').system('true')", "a.__class__", "open('x')", "a[0]", "lambda: 1", "[x for x in a]",
           "'s' * 3", "a ** 99", "a if b else 1", "a == b", "(x := 1)", "f'{a}'", "eval('1')", "getattr(a, 'x')",
           "a and b", "not a", "{1: 2}", "a << 2", "a @ b", "a % b", "a // b", "...", "True", "None", "print"]


@SETTINGS
@given(st.sampled_from(HOSTILE), trees, st.sampled_from(["{h}", "{t} + {h}", "min({h}, {t})", "-({h})"]))
def test_anything_but_arithmetic_is_refused_by_the_check_and_by_the_evaluator(h: str, t: Any, shape: str) -> None:
    expr = shape.format(h=h, t=render(t))
    with pytest.raises(expressions.ExpressionError):
        expressions.check(expr, NAMES)
    # The evaluator refuses it too, whoever calls it (simpleeval alone would run 'a if b else 1').
    with pytest.raises(ValueError):
        expressions.evaluate(expr, {"a": 1.0, "b": 2.0, "完工数": 3.0})
