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

    counter = [0]  # table macros inlined so far: their CTEs get names of their own

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and _call_name(node.this) == "query_table" \
                and len(node.this.expressions) == 1 and isinstance(node.this.expressions[0], exp.Column):
            # a relation passed to a macro by name, read as a table: that table (or CTE) itself
            named = exp.Table(this=node.this.expressions[0].this.copy())
            if node.args.get("alias") is not None:
                named.set("alias", node.args["alias"].copy())
            return named
        if isinstance(node, exp.Table) and _call_name(node.this) in macros:
            macro = macros[_call_name(node.this)]
            if not macro.table:
                raise ValueError(f"{macro.name} is a scalar macro used as a table")
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(macro.name))
            counter[0] += 1
            body = _with_unique_ctes(_bind(macro, list(node.this.expressions)), f"_{macro.name}{counter[0]}")
            return exp.Subquery(this=body, alias=alias.copy())
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
        if not any(_call_name(n) in macros or _call_name(n) in literals or _call_name(n) == "query_table"
                   for n in tree.find_all(exp.Anonymous)):
            return _BOUND.sub(r"$\1", tree.sql(dialect="duckdb", comments=False))
        tree = tree.transform(replace)
    raise ValueError("macro expansion did not finish (a macro that calls itself?)")


def _with_unique_ctes(query: exp.Expression, suffix: str) -> exp.Expression:
    """``query`` with the names of its own CTEs suffixed, so that two inlined macro bodies never
    define the same name (an engine may lift every CTE to the top, as SQLGlot does for Spark)."""
    with_ = query.args.get("with_") or query.args.get("with")
    if with_ is None:
        return query
    names = {cte.alias_or_name.lower() for cte in with_.expressions}
    for cte in with_.expressions:
        cte.set("alias", exp.TableAlias(this=exp.to_identifier(cte.alias_or_name + suffix)))
    for table in query.find_all(exp.Table):
        if not table.args.get("db") and table.name.lower() in names and not isinstance(table.this, exp.Anonymous) \
                and not _shadowed(table, query):
            if table.args.get("alias") is None:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            table.set("this", exp.to_identifier(table.name + suffix))
    # a CTE handed to a table macro by name (classified_outcomes(measure_scores, …): query_table)
    for call in query.find_all(exp.Table):
        if isinstance(call.this, exp.Anonymous):
            for arg in call.this.expressions:
                if isinstance(arg, exp.Column) and not arg.table and arg.name.lower() in names:
                    arg.set("this", exp.to_identifier(arg.name + suffix))
    return query


def _shadowed(table: exp.Table, top: exp.Expression) -> bool:
    """Whether a query between ``table`` and ``top`` defines a CTE of the table's name."""
    node = table.parent
    while node is not None and node is not top:
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is not None and any(c.alias_or_name.lower() == table.name.lower() for c in with_.expressions):
            return True
        node = node.parent
    return False


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _spark_constructs(node: exp.Expression) -> exp.Expression:
    """The DuckDB constructs SQLGlot leaves as they are, in Spark's terms:

    - ``unnest(list_of_structs, recursive := true)`` (a row per element, a column per field) is
      Spark's generator ``inline``;
    - ``a / b`` divides as DOUBLE, as DuckDB's ``/`` does (Spark keeps DECIMAL operands DECIMAL);
    - ``isfinite(x)`` is ``NOT isnan(x) AND abs(x) <> Infinity``; a LIMIT's cast literal, the literal, a bound LIMIT an INT;
    - ``any_value(x)`` skips NULLs, so on Spark ``any_value(x, true)``; ``arg_max_null`` is ``max_by``;
      ``len(list)`` is ``size``; ``list_position`` is ``array_position`` with 0 read as NULL;
    - a table alias selected or listed as a value (the row as a struct) is ``struct(t.*)``;
    - several lists unnested side by side in one SELECT (``generate_subscripts(l, 1)`` among them:
      1 … len(l)) are one ``inline`` of their i-th elements;
    - ``(a, b) IN (SELECT (x, y) …)`` selects the columns ``x, y``; ``AS MATERIALIZED`` is dropped;
    - a HAVING clause that names a column an alias of the SELECT shadows (DuckDB reads the column,
      Spark the alias) is a WHERE around the SELECT, its aggregates computed as columns inside;
    - ``quantile_cont(x, q)`` is Spark's ``percentile(x, q)`` (q a fraction or an array of them);
    - ``list[i]`` (from 1, NULL outside) is ``element_at`` guarded by the list's size; a
      ``list_contains`` of a NULL list is NULL;
    - an ORDER BY inside an aggregate: for ``list`` (ArrayAgg) the list is sorted by the keys
      (``array_sort`` of structs of the keys and the value); for ``string_agg`` SQLGlot writes
      Spark's ``listagg … WITHIN GROUP``; for the others it is dropped. It is there for the same
      float digits on every DuckDB run; Spark's sums are not ordered, so its digits may differ in
      the last places (compared within a tolerance);
    - ``regexp_full_match(x, p)`` is ``x RLIKE '^(?:p)\\z'``; ``try_strptime(x, f)`` is
      ``try_to_timestamp`` with ``f`` in Java's letters (:func:`_try_to_timestamp`); a row value
      ``row(a, b)`` is ``struct(a, b)``; ``try_cast(x AS INTEGER)`` goes through DECIMAL(38, 0),
      so that '3.0' is 3 and 2.5 rounds as in DuckDB (the import's checks, analytics/ingest/checks.py)."""
    if isinstance(node, exp.Div) and not isinstance(node.this, exp.Cast):
        # DuckDB's / divides as DOUBLE whatever the operands (4.0 is a DECIMAL literal); Spark
        # keeps a DECIMAL quotient, cut to its scale (0.78289473 for 0.7828947368421053)
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node  # changed in place, so that the rewrite goes on into its operands
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite" and len(node.expressions) == 1:
        finite = sqlglot.parse_one("NOT ISNAN(x) AND ABS(x) <> CAST('Infinity' AS DOUBLE)", read="spark")
        value = node.expressions[0]
        return exp.Paren(this=finite.transform(
            lambda n: value.copy() if isinstance(n, exp.Column) and n.name == "x" else n))
    if isinstance(node, exp.Length) and isinstance(node.this, (exp.ArrayFilter, exp.StructExtract)):
        # len() of a list (the package takes len() of lists only): Spark's size()
        return exp.Anonymous(this="size", expressions=[node.this])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_position":
        # 1-based; DuckDB gives NULL when absent, Spark's array_position 0
        return exp.Nullif(this=exp.Anonymous(this="array_position", expressions=list(node.expressions)),
                          expression=exp.Literal.number(0))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("arg_max_null", "arg_min_null"):
        # the value at the largest (smallest) key, NULL values included: Spark's max_by / min_by
        return exp.Anonymous(this="max_by" if node.name.lower() == "arg_max_null" else "min_by",
                             expressions=[e.copy() for e in node.expressions])
    if isinstance(node, exp.Limit):
        count = node.expression
        while isinstance(count, (exp.Paren, exp.Cast)):
            count = count.this
        if isinstance(count, exp.Literal) and count is not node.expression:
            return exp.Limit(expression=count.copy())  # Spark: a LIMIT is an integer literal
        if not isinstance(count, exp.Literal) and not (isinstance(node.expression, exp.Cast)
                                                       and node.expression.to.this == exp.DataType.Type.INT):
            # a bound LIMIT: Spark takes an INT, not a BIGINT
            return exp.Limit(expression=exp.Cast(this=count.copy(), to=exp.DataType.build("INT")))
    if isinstance(node, exp.Explode) and any(
            isinstance(a, exp.PropertyEQ) and a.this.name.lower() == "recursive" for a in node.expressions):
        return exp.Anonymous(this="inline", expressions=[node.this])
    if isinstance(node, exp.Column) and not node.table and isinstance(node.parent, exp.Select) \
            and node.arg_key == "expressions" and node.name in _source_aliases(node):
        # a table alias selected as a value (the whole row as a struct): Spark spells it struct(t.*)
        return exp.alias_(exp.Anonymous(this="struct", expressions=[exp.Column(this=exp.Star(), table=node.this.copy())]),
                          node.name)
    if isinstance(node, exp.Select) and node.args.get("having") is not None:
        renamed = _unshadow_having(node)
        if renamed is not None:
            return renamed
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)  # a planner hint (AS MATERIALIZED) Spark has no syntax for
        return node
    if isinstance(node, exp.Select):
        zipped = _zip_generators(node)
        if zipped is not None:
            return zipped
    if isinstance(node, exp.In) and isinstance(node.this, exp.Tuple) and isinstance(node.args.get("query"), exp.Subquery):
        # (a, b) IN (SELECT (x, y) …): DuckDB compares one row value; Spark wants two columns
        inner = node.args["query"].this
        if isinstance(inner, exp.Select) and len(inner.expressions) == 1 and isinstance(inner.expressions[0], exp.Tuple):
            inner.set("expressions", list(inner.expressions[0].expressions))
        return node
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        # quantile_cont(x, q) (q one fraction or a list of them): Spark's interpolating percentile(x, q),
        # which takes a list as array and returns one (SQLGlot writes a percentile_cont Spark has not)
        return exp.Anonymous(this="percentile", expressions=[node.this.copy(), node.expression.copy()])
    if isinstance(node, exp.ArrayContains) and isinstance(node.this, exp.Null):
        return exp.Null()  # list_contains(NULL, x) is NULL; Spark cannot type the NULL list
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and not isinstance(node.expressions[0], exp.Literal):
        # DuckDB's list[i] counts from 1 and is NULL outside the list; Spark's [] counts from 0
        # and element_at fails outside it under ANSI mode. (A literal index SQLGlot already
        # shifts by one itself, and Spark's [] takes a list whose type is still unknown: NULL.)
        values, index = node.this, node.expressions[0]
        inside = exp.and_(exp.GTE(this=index.copy(), expression=exp.Literal.number(1)),
                          exp.LTE(this=index.copy(), expression=exp.Anonymous(this="size", expressions=[values.copy()])))
        position = exp.Cast(this=index.copy(), to=exp.DataType.build("INT"))  # Spark's element_at takes an INT
        return exp.Case(ifs=[exp.If(this=inside, true=exp.Anonymous(this="element_at", expressions=[values, position]))])
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        # DuckDB's any_value skips NULLs; Spark's does when asked (its IGNORE NULLS cannot take a FILTER)
        return exp.Anonymous(this="any_value", expressions=[node.this.this.copy(), exp.true()])
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        keys = [o.this for o in node.this.expressions]
        value = node.this.this.copy()
        if isinstance(value, exp.Column) and not value.table and value.name in _source_aliases(node):
            # a table alias as a value (the whole row as a struct): Spark spells it struct(r.*)
            value = exp.Anonymous(this="struct", expressions=[exp.Column(this=exp.Star(), table=value.this)])
        fields = [exp.alias_(k.copy(), f"k{i}") for i, k in enumerate(keys)] + [exp.alias_(value, "v")]
        collected = exp.Anonymous(this="collect_list", expressions=[exp.Anonymous(this="struct", expressions=fields)])
        element = exp.to_identifier("e")
        return exp.Anonymous(this="transform", expressions=[
            exp.Anonymous(this="array_sort", expressions=[collected]),
            exp.Lambda(this=exp.Dot(this=exp.column("e"), expression=exp.to_identifier("v")), expressions=[element]),
        ])
    if isinstance(node, exp.Order) and isinstance(node.parent, exp.AggFunc) \
            and not isinstance(node.parent, (exp.GroupConcat, exp.ArrayAgg)):
        return node.this
    if isinstance(node, exp.RegexpFullMatch):
        # RE2's full match: Java's find anchored at both ends (\z, not $, which would also
        # match before a final line break)
        pattern = node.expression
        anchored = (exp.Literal.string(f"^(?:{pattern.this})\\z") if isinstance(pattern, exp.Literal)
                    else exp.Concat(expressions=[exp.Literal.string("^(?:"), pattern.copy(), exp.Literal.string(")\\z")]))
        return exp.RegexpLike(this=node.this.copy(), expression=anchored)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime" and len(node.expressions) == 2 \
            and isinstance(node.expressions[1], exp.Literal):
        return _try_to_timestamp(node.expressions[0].copy(), node.expressions[1].this)
    if isinstance(node, exp.TryCast) and node.to.this in _WHOLE_NUMBERS and not (
            isinstance(node.this, exp.TryCast) and node.this.to.this == exp.DataType.Type.DECIMAL):
        # DuckDB reads '3.0' (and a DOUBLE 2.5) as a whole number rounded half away from zero;
        # Spark's cast of the text is NULL (and of a DOUBLE truncates): through DECIMAL(38, 0)
        decimal = exp.TryCast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 0)"), safe=True)
        return exp.TryCast(this=decimal, to=node.to.copy(), safe=True)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "row":
        return exp.Anonymous(this="struct", expressions=[e.copy() for e in node.expressions])  # a row value
    return node


_WHOLE_NUMBERS = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT}

#: strptime directives (DuckDB, C) as Java DateTimeFormatter letters, which Spark parses with. One
#: letter for a number reads one or more digits, as %d and %m do (the import checks a cell's
#: shape, analytics.ingest.importer.date_shape, before the parse decides).
_JAVA_DATE_LETTERS = {"d": "d", "m": "M", "Y": "yyyy", "y": "yy", "H": "H", "I": "h", "M": "m", "S": "s",
                      "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "j": "D"}


def _java_date_format(strptime_format: str) -> str:
    """A strptime format as a Java pattern; letters outside directives are quoted."""
    out: list[str] = []
    i = 0
    while i < len(strptime_format):
        ch = strptime_format[i]
        if ch == "%" and i + 1 < len(strptime_format):
            directive = strptime_format[i + 1]
            if directive == "-" and i + 2 < len(strptime_format):  # %-d: no padding, the same here
                directive, i = strptime_format[i + 2], i + 1
            if directive == "%":
                out.append("'%'")
            elif directive in _JAVA_DATE_LETTERS:
                letters = _JAVA_DATE_LETTERS[directive]
                if len(letters) == 1 and strptime_format[i + 2:i + 3] == "%":
                    letters *= 2  # numbers side by side (%Y%m%d): fixed widths, as Java needs them
                out.append(letters)
            else:
                raise ValueError(f"no Spark equivalent of the date directive %{directive}")
            i += 2
            continue
        if ch.isalpha() or ch == "'":  # literal text: a run of letters in one quoted span
            run = ""
            while i < len(strptime_format) and (strptime_format[i].isalpha() or strptime_format[i] == "'"):
                run += strptime_format[i]
                i += 1
            out.append("'" + run.replace("'", "''") + "'")
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _try_to_timestamp(value: exp.Expression, strptime_format: str) -> exp.Expression:
    """DuckDB's ``try_strptime(value, format)``: Spark's ``try_to_timestamp`` with the format in
    Java's letters. A two-digit year (%y) is 1969-2068 in DuckDB (POSIX), 2000-2099 in Java: the
    years from 2069 on are moved back a century."""
    parsed = exp.Anonymous(this="try_to_timestamp",
                           expressions=[value, exp.Literal.string(_java_date_format(strptime_format))])
    if "%y" not in strptime_format and "%-y" not in strptime_format:
        return parsed
    return sqlglot.parse_one(
        "CASE WHEN YEAR(t) >= 2069 THEN CAST(ADD_MONTHS(t, -1200) AS TIMESTAMP) ELSE t END", read="spark"
    ).transform(lambda n: parsed.copy() if isinstance(n, exp.Column) and n.name == "t" else n)


def _zip_generators(select: exp.Select) -> exp.Select | None:
    """A SELECT that unnests several lists side by side (DuckDB pairs their elements by
    position: ``SELECT unnest(a)::VARCHAR AS x, unnest(b) AS y``) as Spark's one generator over
    the i-th elements as structs: ``SELECT CAST(c0 AS STRING) AS x, c1 AS y FROM (SELECT inline(…))``.
    None for any other SELECT."""
    generators = [p.find(exp.Explode) or _subscripts(p) for p in select.expressions]
    if len(select.expressions) < 2 or any(g is None for g in generators):
        return None
    # generate_subscripts(l, 1) counts 1 … len(l): the elements of SEQUENCE(1, SIZE(l))
    lists = [g.this.copy() if isinstance(g, exp.Explode) else
             exp.Anonymous(this="sequence", expressions=[exp.Literal.number(1), exp.Anonymous(
                 this="size", expressions=[g.expressions[0].copy()])]) for g in generators]
    # the i-th elements as one struct of fields c0, c1, … (arrays_zip would name them after the
    # lists), for i from 1 to the first list's size; no row for an empty or NULL list
    rows = sqlglot.parse_one(
        "CASE WHEN SIZE(l0) > 0 THEN TRANSFORM(SEQUENCE(1, SIZE(l0)), i -> STRUCT("
        + ", ".join(f"ELEMENT_AT(l{k}, i) AS c{k}" for k in range(len(lists))) + ")) END", read="spark")
    rows = rows.transform(lambda n: lists[int(n.name[1:])].copy()
                          if isinstance(n, exp.Column) and re.fullmatch(r"l\d+", n.name) else n)
    inner = exp.Select(expressions=[exp.Anonymous(this="inline", expressions=[rows])])
    for key in ("from_", "from", "where", "joins"):
        if select.args.get(key) is not None:
            inner.set(key, select.args[key].copy())
    outer = []
    for i, (projection, generator) in enumerate(zip(select.expressions, generators, strict=True)):
        field = exp.Column(this=exp.to_identifier(f"c{i}"))
        outer.append(projection.copy().transform(
            lambda n, g=generator, f=field: f.copy() if n == g else n))
    return exp.Select(expressions=outer).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("zipped"))))


def _unshadow_having(select: exp.Select) -> exp.Select | None:
    """A SELECT whose HAVING names a column that one of its aliases shadows (``CASE … END AS
    band … HAVING grouping(band) = 1``: DuckDB reads the column, Spark the alias, and Spark
    resolves no other column there under GROUPING SETS) as a SELECT that computes the HAVING's
    aggregates and ``grouping()`` values as extra columns (``__having_0`` …) and a SELECT around
    it that keeps the rows they pass (WHERE) and the original columns; None for any other."""
    having = select.args["having"].this
    having_names = {c.name for c in having.find_all(exp.Column) if not c.table}
    shadowing = {p.alias for p in select.expressions if isinstance(p, exp.Alias) and p.alias in having_names
                 and not (isinstance(p.this, exp.Column) and p.this.name == p.alias)}
    if not shadowing or any(isinstance(p, exp.Star) or not p.alias_or_name for p in select.expressions) \
            or select.args.get("order") is not None:
        return None
    inner = select.copy()
    condition = inner.args["having"].this.copy()
    computed: list[exp.Expression] = []

    def lift(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.AggFunc, exp.Grouping)):
            computed.append(exp.alias_(node.copy(), f"__having_{len(computed)}"))
            return exp.column(computed[-1].alias)
        return node

    condition = condition.transform(lift)
    if any(not c.name.startswith(("__having_", "__param_")) for c in condition.find_all(exp.Column)):
        return None  # a bare column left in the condition: not this shape
    inner.set("having", None)
    inner.set("expressions", [*inner.expressions, *computed])
    outer = exp.Select(expressions=[exp.column(p.alias_or_name) for p in select.expressions])
    return outer.from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("grouped")))) \
        .where(condition)


def _subscripts(projection: exp.Expression) -> exp.Anonymous | None:
    """The ``generate_subscripts(list, 1)`` in ``projection``, if any."""
    return next((n for n in projection.find_all(exp.Anonymous)
                 if n.name.lower() == "generate_subscripts" and len(n.expressions) == 2), None)


def _source_aliases(node: exp.Expression) -> set[str]:
    """The aliases (or names) of the tables and subqueries the SELECT around ``node`` reads."""
    select = node.find_ancestor(exp.Select)
    if select is None:
        return set()
    sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
    return {source.this.alias_or_name for source in sources if source is not None and source.this is not None}


def to_spark(sql: str) -> str:
    """DuckDB SQL without macros (:func:`expand_macros`) transpiled to Spark SQL by SQLGlot, with
    the constructs of :func:`_spark_constructs` rewritten first."""
    tree = sqlglot.parse_one(_PARAM.sub(r"\1__param_\2", sql), read="duckdb")
    text = tree.sql(dialect="spark", comments=False)
    for _ in range(_MAX_DEPTH):  # a rewrite's new node is not revisited in its pass: until nothing changes
        tree = tree.transform(_spark_constructs)
        rewritten = tree.sql(dialect="spark", comments=False)
        if rewritten == text:
            return _BOUND.sub(r":\1", rewritten)
        text = rewritten
    raise ValueError("the Spark rewrite did not settle")
