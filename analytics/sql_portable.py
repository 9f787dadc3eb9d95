"""The dashboard's SQL with its macros written out, for an engine without DuckDB macros (issue 17).

Every query of the package is DuckDB SQL that calls the scalar and table macros of the macro files
(analytics/sql/macros.sql and the others of :data:`analytics.db.MACRO_FILES`): one definition of
each metric. Spark SQL has no such macros, so the route to a second engine keeps that one source
and rewrites it: :func:`expand_macros` parses a query with SQLGlot (DuckDB dialect) and replaces
every call of a macro by the macro's body, its parameters replaced by the call's arguments
(positional, ``name := value``, or the definition's default), until no macro is called; a table
macro in a FROM clause becomes a subquery under the call's alias. The result is DuckDB SQL that
needs no macro, so its equality with the original is checked on DuckDB itself
(tests/test_sql_portable.py), and then :func:`to_spark` transpiles it for Spark
(scripts/engine_parity.py runs both).

The semantics follow DuckDB's macro binding: inside a body, an unqualified column whose name is a
parameter is that parameter (a qualified ``t.measure`` is a column). The scalar macros made when a
database is opened (``stored_baseline_days()`` and the like, analytics/stored.py) are constants of
that database: pass their values as ``constants``.

This module imports SQLGlot, which the DuckDB path never needs: import it only for another engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlglot
from sqlglot import exp

__all__ = ["Macro", "expand_macros", "macro_library", "to_spark"]

_HEAD = re.compile(r"CREATE\s+OR\s+REPLACE\s+MACRO\s+(\w+)\s*\((.*?)\)\s+AS\s+(TABLE\s+)?", re.S | re.I)
_PARAM = re.compile(r"(^|[^\w$])\$([A-Za-z_][A-Za-z0-9_]*)")
_BOUND = re.compile(r"__param_([A-Za-z_][A-Za-z0-9_]*)")
_MAX_DEPTH = 30  # macros calling macros: the deepest chain is far shorter; a cycle stops here


@dataclass(frozen=True)
class Macro:
    """One macro: its parameters in order, the defaults of the named ones, and its body (an
    expression, or for a table macro a query)."""

    name: str
    params: tuple[str, ...]
    defaults: dict[str, exp.Expression]
    body: exp.Expression
    table: bool


def _parse_macro(statement: str) -> Macro:
    head = _HEAD.match(statement.strip())
    if head is None:
        raise ValueError(f"not a macro definition: {statement[:80]!r}")
    name, params_text, table = head.group(1).lower(), head.group(2), bool(head.group(3))
    params: list[str] = []
    defaults: dict[str, exp.Expression] = {}
    if params_text.strip():
        signature = sqlglot.parse_one(f"f({params_text})", read="duckdb")
        for arg in signature.expressions:
            if isinstance(arg, exp.PropertyEQ):
                params.append(arg.this.name.lower())
                defaults[arg.this.name.lower()] = arg.expression
            else:
                params.append(arg.name.lower())
    body_text = statement.strip()[head.end():].rstrip().rstrip(";")
    body = sqlglot.parse_one(body_text if table else f"SELECT {body_text}", read="duckdb")
    if not table:
        body = body.expressions[0]
    return Macro(name, tuple(params), defaults, body, table)


@cache
def macro_library() -> dict[str, Macro]:
    """Every macro of the package's macro files, by lower-case name."""
    from .db import MACRO_FILES, load_sql, macro_definitions

    definitions = macro_definitions({file: load_sql(file) for file in MACRO_FILES})
    return {name: _parse_macro(text) for name, text in definitions.items()}


def _bind(macro: Macro, call_args: list[exp.Expression]) -> exp.Expression:
    """The macro's body with its parameters replaced by ``call_args``."""
    values: dict[str, exp.Expression] = {}
    positional = [a for a in call_args if not isinstance(a, exp.PropertyEQ)]
    if len(positional) > len(macro.params):
        raise ValueError(f"{macro.name}: {len(positional)} arguments for {len(macro.params)} parameters")
    for param, arg in zip(macro.params, positional, strict=False):
        values[param] = arg
    for arg in call_args:
        if isinstance(arg, exp.PropertyEQ):
            values[arg.this.name.lower()] = arg.expression
    for param in macro.params:
        if param not in values:
            if param not in macro.defaults:
                raise ValueError(f"{macro.name}: no value for parameter {param}")
            values[param] = macro.defaults[param]

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in values:
            value = values[node.name.lower()].copy()
            return value if isinstance(value, (exp.Column, exp.Literal, exp.Placeholder, exp.Null, exp.Boolean)) \
                else exp.Paren(this=value)
        return node

    return macro.body.copy().transform(substitute, copy=False)


def _call_name(node: exp.Expression) -> str | None:
    return node.name.lower() if isinstance(node, exp.Anonymous) else None


def expand_macros(sql: str, constants: dict[str, Any] | None = None,
                  macros: dict[str, Macro] | None = None) -> str:
    """``sql`` (DuckDB) with every macro call written out (see the module doc); ``constants``:
    the values of argument-less scalar macros that are not in the macro files (the stored
    settings of a database, by macro name). Returns DuckDB SQL calling no macro."""
    macros = macro_library() if macros is None else macros
    literals = {name.lower(): _literal(value) for name, value in (constants or {}).items()}
    # $name parameters are parsed as columns of a reserved name and written back afterwards: the
    # tokenizer reads some "$a ... $" spans as dollar-quoted strings.
    tree = sqlglot.parse_one(_PARAM.sub(r"\1__param_\2", sql), read="duckdb")

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and _call_name(node.this) in macros:
            macro = macros[_call_name(node.this)]
            if not macro.table:
                raise ValueError(f"{macro.name} is a scalar macro used as a table")
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(macro.name))
            return exp.Subquery(this=_bind(macro, list(node.this.expressions)), alias=alias.copy())
        name = _call_name(node)
        if name in literals and not node.expressions:
            return literals[name].copy()
        if name in macros:
            macro = macros[name]
            if macro.table:
                raise ValueError(f"{macro.name} is a table macro used as a value")
            return exp.Paren(this=_bind(macro, list(node.expressions)))
        return node

    for _ in range(_MAX_DEPTH):
        if not any(_call_name(n) in macros or _call_name(n) in literals for n in tree.find_all(exp.Anonymous)):
            return _BOUND.sub(r"$\1", tree.sql(dialect="duckdb", comments=False))
        tree = tree.transform(replace)
    raise ValueError("macro expansion did not finish (a macro that calls itself?)")


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def to_spark(sql: str) -> str:
    """DuckDB SQL without macros (:func:`expand_macros`) transpiled to Spark SQL by SQLGlot."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]
