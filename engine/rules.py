"""Eligibility rule language: safe boolean expressions over profile features.

A rule is a Python-syntax expression such as
``income_30d >= 1500 and overdraft_days_90d == 0 and segment in ("saver", "family")``.
It is parsed with :mod:`ast` and compiled into plain closures; nothing is passed to
``eval`` or ``exec``. Allowed: ``and``, ``or``, ``not``, comparisons (including chained
ones and ``in`` over a literal list), ``+ - * /``, unary minus, numbers, strings,
``true``/``false`` and feature names. Anything else (calls, attributes, subscripts,
lambdas) is rejected with a :class:`~engine.errors.RuleError`.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import RuleError

__all__ = ["CompiledRule", "compile_rule"]

Evaluator = Callable[[Mapping[str, Any]], Any]

_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_LITERAL_NAMES = {"true": True, "false": False, "True": True, "False": False}
MAX_RULE_LENGTH = 2000


@dataclass(frozen=True)
class CompiledRule:
    """A parsed rule: its source, the feature names it reads and its evaluator."""

    source: str
    names: frozenset[str]
    _evaluate: Evaluator

    def __call__(self, features: Mapping[str, Any]) -> bool:
        """Evaluate the rule; a division by zero or a type mismatch counts as not eligible."""
        try:
            return bool(self._evaluate(features))
        except (ZeroDivisionError, TypeError):
            return False


def compile_rule(source: str, known_names: Collection[str] | None = None) -> CompiledRule:
    """Parse and compile ``source``.

    Args:
        source: the rule text.
        known_names: feature names the rule may read. When given, an unknown name is
            rejected with the closest matches.

    Raises:
        RuleError: the rule is not valid syntax or uses a construct outside the language.
    """
    if not isinstance(source, str) or not source.strip():
        raise RuleError("rule is empty; write 'true' for an offer that everyone may see")
    if len(source) > MAX_RULE_LENGTH:
        raise RuleError(f"rule is {len(source)} characters long; the maximum is {MAX_RULE_LENGTH}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        raise RuleError(f"rule {source!r} is not valid syntax at column {err.offset}: {err.msg}") from err
    names: set[str] = set()
    evaluate = _compile(tree.body, source, names, known_names)
    return CompiledRule(source=source, names=frozenset(names), _evaluate=evaluate)


def _reject(node: ast.AST, source: str) -> RuleError:
    snippet = ast.get_source_segment(source.strip(), node) or type(node).__name__
    return RuleError(
        f"rule {source!r} uses {snippet!r}, which the rule language does not allow; "
        "use feature names, numbers, strings, comparisons, and/or/not and + - * /"
    )


def _compile(node: ast.AST, source: str, names: set[str], known: Collection[str] | None) -> Evaluator:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(value, source, names, known) for value in node.values]
        if isinstance(node.op, ast.And):
            return lambda f: all(part(f) for part in parts)
        return lambda f: any(part(f) for part in parts)

    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, source, names, known)
        if isinstance(node.op, ast.Not):
            return lambda f: not operand(f)
        if isinstance(node.op, ast.USub):
            return lambda f: -operand(f)
        raise _reject(node, source)

    if isinstance(node, ast.Compare):
        left = _compile(node.left, source, names, known)
        steps = []
        for op, comparator in zip(node.ops, node.comparators):
            function = _COMPARE.get(type(op))
            if function is None:
                raise _reject(node, source)
            steps.append((function, _compile(comparator, source, names, known)))

        def compare(f: Mapping[str, Any]) -> bool:
            current = left(f)
            for function, right in steps:
                value = right(f)
                if not function(current, value):
                    return False
                current = value
            return True

        return compare

    if isinstance(node, ast.BinOp):
        function = _ARITHMETIC.get(type(node.op))
        if function is None:
            raise _reject(node, source)
        left = _compile(node.left, source, names, known)
        right = _compile(node.right, source, names, known)
        return lambda f: function(left(f), right(f))

    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        constant = node.value
        return lambda f: constant

    if isinstance(node, (ast.Tuple, ast.List)):
        values = []
        for element in node.elts:
            if not (isinstance(element, ast.Constant) and isinstance(element.value, (int, float, str))):
                raise _reject(element, source)
            values.append(element.value)
        frozen = frozenset(values)
        return lambda f: frozen

    if isinstance(node, ast.Name):
        if node.id in _LITERAL_NAMES:
            literal = _LITERAL_NAMES[node.id]
            return lambda f: literal
        if known is not None and node.id not in known:
            close = difflib.get_close_matches(node.id, list(known), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise RuleError(f"rule {source!r} reads unknown feature {node.id!r}.{hint}")
        names.add(node.id)
        name = node.id
        return lambda f: f[name] if name in f else 0.0

    raise _reject(node, source)
