"""Derived fields: ``scrap_qty = "completed_qty - good_qty"``, arithmetic on one row's numbers.

An expression is checked when the profile loads (:func:`check`): only numbers, the names
the connector declares, ``+ - * /``, unary minus and ``min max abs round``; anything else
(an attribute, a subscript, a string, a comparison, ``**``, an unknown name or function)
is a ProfileError naming the file and key. Evaluation (:func:`evaluate`) goes through
simpleeval with the same operators and functions only, never ``eval``: even an expression
that slipped past the check can do nothing but arithmetic on the row's fields.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator
from collections.abc import Iterable, Mapping
from functools import lru_cache

from simpleeval import NameNotDefined, SimpleEval

from gateway.i18n import N_
from gateway.user_error import UserError

OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
             ast.USub: operator.neg, ast.UAdd: operator.pos}
FUNCTIONS = {"min": min, "max": max, "abs": abs, "round": round}
MAX_LENGTH = 500


class ExpressionError(UserError, ValueError):
    """An expression the connector cannot use; the message says what was expected."""


def is_name(name: str) -> bool:
    """A name an expression can use for a field or an input column (a Python identifier: 完工数 is one)."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in FUNCTIONS


def check(expr: str, names: Iterable[str]) -> frozenset[str]:
    """The names ``expr`` reads; ExpressionError when it is anything but arithmetic on ``names``."""
    allowed = set(names)
    if not isinstance(expr, str) or not expr.strip():
        raise ExpressionError(N_("an arithmetic expression such as \"completed_qty - good_qty\" (found nothing)"))
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(N_("an expression of at most {MAX_LENGTH} characters"), MAX_LENGTH=MAX_LENGTH)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise ExpressionError(N_("a valid arithmetic expression ({value} in {expr})"),
                              value=getattr(exc, 'msg', exc), expr=f'{expr!r}') from None
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load):
            continue
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            if type(node.op) not in OPERATORS:
                raise ExpressionError(N_("only + - * / and unary minus (found {type} in {expr})"),
                                      type=type(node.op).__name__, expr=f'{expr!r}')
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ExpressionError(N_("numbers only (found {value} in {expr})"),
                                      value=f'{node.value!r}', expr=f'{expr!r}')
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn not in FUNCTIONS or node.keywords or not node.args:
                raise ExpressionError(N_("a call of one of {FUNCTIONS} with arguments only (found {value})"),
                                      FUNCTIONS=sorted(FUNCTIONS), value=f'{ast.unparse(node)!r}')
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                continue  # checked as the call's function above; a bare 'min' fails at the parent Call check
            if node.id not in allowed:
                raise ExpressionError(N_("names of this connector's numeric columns or inputs {allowed} (found {id})"),
                                      allowed=sorted(allowed), id=f'{node.id!r}')
            used.add(node.id)
        elif isinstance(node, ast.operator | ast.unaryop):
            continue
        else:
            raise ExpressionError(N_("arithmetic only (found {type} in {expr})"),
                                  type=type(node).__name__, expr=f'{expr!r}')
    for node in ast.walk(tree):  # a function name used as a value (e.g. "min + 1")
        if isinstance(node, ast.Name) and node.id in FUNCTIONS and not _is_called(tree, node):
            raise ExpressionError(N_("{id} called with arguments (found it used as a value in {expr})"),
                                  id=node.id, expr=f'{expr!r}')
    return frozenset(used)


def _is_called(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


@lru_cache(maxsize=256)
def _checked(expr: str, names: frozenset[str]) -> frozenset[str]:
    return check(expr, names)


@lru_cache(maxsize=256)
def _parsed(expr: str) -> tuple[SimpleEval, ast.AST]:
    ev = SimpleEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS), names={})
    return ev, ev.parse(expr.strip())


def evaluate(expr: str, values: Mapping[str, float | None]) -> float | None:
    """The expression on one row; None when an input it reads is empty (not observed is not 0).
    ValueError (with the reason) for a division by zero, a result that is not a finite number,
    or an expression :func:`check` refuses (checked here too: the evaluator never runs more
    than arithmetic on the names in ``values``, even when called without the profile check)."""
    try:
        _checked(expr, frozenset(values))  # arithmetic on these names only, whoever calls
        ev, tree = _parsed(expr)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"{expr!r} is not an expression ({exc})") from None
    ev.names = {k: v for k, v in values.items() if v is not None}
    try:
        out = ev.eval(expr, previously_parsed=tree)
    except ZeroDivisionError:
        raise ValueError(f"{expr!r}: division by zero") from None
    except NameNotDefined:
        return None  # an input of this row is empty
    except Exception as exc:  # simpleeval refuses anything outside the whitelist
        raise ValueError(f"{expr!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(out, bool) or not isinstance(out, int | float) or not math.isfinite(out):
        raise ValueError(f"{expr!r} gives {out!r}, not a finite number")
    return float(out)
