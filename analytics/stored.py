"""Per-client rows stored at import, so the summary and the pages read a row per client instead
of recomputing it from every assignment and score.

An import ends (inside its transaction, so the rows and the data they come from are published
together) with :func:`store_client_rows`: the macros ``client_homework_rows_live``,
``client_measure_score_rows_live`` and ``client_paired_score_rows_live`` (analytics/sql/macros.sql)
run over every client under the settings in force, and their rows are stored with those
settings. Queries call the macros of analytics/sql/stored_client_rows.sql, which return the
stored rows of the cohort's clients when the caller's settings are the stored ones and compute
them with the same macros otherwise: one definition, two speeds.

The sudden gains of every client (:func:`store_sudden_gains`) are stored too: they are found in
Python (analytics.sudden_gains), so they are stored with the settings they depend on, and a page
whose settings differ finds them anew with the same function.

The expected recovery curves (:func:`store_expected_fits`) of the whole network and of each
clinic are stored too: the rows of the one fit query (expected_response_fit.sql, every scope in one
run), with the key of the settings they were fitted under and each scope's latest discharge date;
analytics.expected_response reads them when a request matches and fits anew otherwise.

This module imports only DuckDB and the standard library at import time (pandas and
analytics.sudden_gains when gains are stored, analytics.expected_response when curves are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Settings
from .scope import Viewer, query_params

if TYPE_CHECKING:
    from collections.abc import Iterator

    import duckdb
    import pandas as pd

    from .db import ClinicDatabase

#: The tables this module stores, and the settings they were stored under (one row).
STORED_TABLES = ("stored_client_homework", "stored_client_measure_scores", "stored_client_paired_scores")
SETTINGS_TABLE = "stored_settings"
SETTINGS_COLUMNS = (
    "stored_baseline_days INTEGER, stored_unreviewed_as_not_done BOOLEAN, stored_depression_measure VARCHAR, "
    "stored_anxiety_measure VARCHAR, batch_id INTEGER"
)

# Each stored table: the live macro over every client (the whole clinic, no filter), with the
# settings as parameters. Names are code constants.
_STORE = {
    "stored_client_homework": (
        "SELECT * FROM client_homework_rows_live($cohort, NULL::VARCHAR[], "
        "unreviewed_as_not_done := $unreviewed_as_not_done::BOOLEAN) ORDER BY client_id"
    ),
    "stored_client_measure_scores": (
        "SELECT * FROM client_measure_score_rows_live($cohort, $baseline_days::INTEGER, NULL::VARCHAR[], "
        "NULL::VARCHAR) ORDER BY client_id, measure"
    ),
    "stored_client_paired_scores": (
        "SELECT * FROM client_paired_score_rows_live($cohort, $depression_measure::VARCHAR, "
        "$anxiety_measure::VARCHAR, $baseline_days::INTEGER, NULL::VARCHAR) ORDER BY client_id"
    ),
}


def _parameters(settings: Settings) -> dict[str, Any]:
    paired = settings.paired_measure_definitions()
    depression, anxiety = (paired[0]["name"], paired[1]["name"]) if paired else (None, None)
    return {
        "cohort": query_params(Viewer.local())["cohort"],
        "baseline_days": int(settings.baseline_days_before_intake),
        "unreviewed_as_not_done": bool(settings.unreviewed_as_not_done),
        "depression_measure": depression,
        "anxiety_measure": anxiety,
    }


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def store_client_rows(con: duckdb.DuckDBPyConnection, settings: Settings, batch_id: int) -> dict[str, int]:
    """Replace the stored per-client rows with those of the data ``con`` now holds, under
    ``settings``; call inside the import's transaction. The macros are loaded as TEMP macros, so
    nothing but the tables is written to the file. Returns the rows stored per table."""
    from .db import load_macros

    load_macros(con, temp=True)
    params = _parameters(settings)
    counts: dict[str, int] = {}
    for table, select in _STORE.items():
        if table == "stored_client_paired_scores" and params["depression_measure"] is None:
            select += " LIMIT 0"  # no paired measures configured: nothing to store
        con.execute(f"CREATE OR REPLACE TABLE main.{table} AS {select}", _used(select, params))
        counts[table] = int(con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0])
    con.execute(f"CREATE OR REPLACE TABLE main.{SETTINGS_TABLE} ({SETTINGS_COLUMNS})")
    con.execute(
        f"INSERT INTO main.{SETTINGS_TABLE} VALUES (?, ?, ?, ?, ?)",
        [params["baseline_days"], params["unreviewed_as_not_done"], params["depression_measure"],
         params["anxiety_measure"], batch_id],
    )
    counts[CLIENT_MONTHS_TABLE] = store_client_months(con)  # before the reading macros, which name it
    counts["stored_sudden_gains"] = store_sudden_gains(con, settings)
    counts["stored_expected_response_fit_scopes"] = store_expected_fits(con, settings)
    counts["stored_cohort_summary"] = store_summaries(con, settings)
    counts["stored_network_results"] = store_network_results(con, settings)
    counts[FILTER_VALUES_TABLE] = store_filter_values(con)
    counts[CLINIC_DATES_TABLE] = store_clinic_dates(con)
    return counts


def _literal(value: Any, sql_type: str) -> str:
    """A SQL literal of a stored setting (an int, a bool or a measure name read from the file)."""
    if value is None:
        return f"NULL::{sql_type}"
    if sql_type == "INTEGER":
        return str(int(value))
    if sql_type == "BOOLEAN":
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


# The sudden gains of every client on every configured measure (analytics.sudden_gains, found in
# Python by the function the Cohort outcomes page falls back to), and per measure the settings
# they were found under: the gains of a measure are read only when all of these match.
GAIN_TABLES = ("stored_sudden_gains", "stored_sudden_gain_measures")
_GAIN_CHUNK_VECTORS = 100  # x 2048 scores per chunk read from the database
GAIN_COLUMNS = ("client_id VARCHAR, measure VARCHAR, first_week BIGINT, last_week BIGINT, magnitude DOUBLE, "
                "reversed BOOLEAN")
GAIN_MEASURE_COLUMNS = "measure VARCHAR, baseline_days INTEGER, reliable_change DOUBLE, higher_is_better BOOLEAN"


def gain_settings(settings: Settings, measure: str) -> tuple[str, int, float, bool] | None:
    """What the sudden gains of ``measure`` depend on: (measure, baseline_days, reliable_change,
    higher_is_better); None for a measure that is not configured."""
    definition = settings.measure(measure)
    if definition is None:
        return None
    return (definition.name, int(settings.baseline_days_before_intake), float(definition.reliable_change),
            bool(definition.higher_is_better))


def whole_client_chunks(cursor: duckdb.DuckDBPyConnection, vectors: int) -> Iterator[pd.DataFrame]:
    """The result of a query in client order as DataFrames of about ``vectors`` x 2,048 rows,
    each holding every row of its clients (a chunk's last client is held back and joined to the
    next chunk), so a per-client computation sees each client whole."""
    import pandas as pd

    pending = None
    while True:
        chunk = cursor.fetch_df_chunk(vectors)
        if chunk.empty:
            if pending is not None and len(pending):
                yield pending
            return
        if pending is not None:
            chunk = pd.concat([pending, chunk], ignore_index=True)
        last = chunk["client_id"].iloc[-1]
        pending = chunk[chunk["client_id"] == last]
        whole = chunk[chunk["client_id"] != last]
        if len(whole):
            yield whole


def store_sudden_gains(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace the stored sudden gains with those of every client on every configured measure
    (``cohort_gain_scores.sql`` over the whole clinic, :func:`analytics.sudden_gains.clients_sudden_gains`),
    found under ``settings``; the macros must be loaded. Returns the gains stored."""
    import pandas as pd

    from .db import load_sql
    from .sudden_gains import CLIENT_GAIN_COLUMNS, clients_sudden_gains

    sql = load_sql("cohort_gain_scores")
    found, measures = [], []
    for definition in settings.measures:
        key = gain_settings(settings, definition.name)
        assert key is not None
        # Streamed a few hundred thousand scores at a time (the query is in client order; a
        # chunk's last client waits for the next chunk, so every client is looked at whole):
        # memory stays bounded at a national scale (15M scores).
        cursor = con.execute(sql, _used(sql, {**_parameters(settings), "measure": definition.name}))
        for chunk in whole_client_chunks(cursor, _GAIN_CHUNK_VECTORS):
            treatment = chunk[chunk["period"] == "treatment"]
            if len(treatment):
                found.append(clients_sudden_gains(treatment, key[2], key[3]).assign(measure=definition.name))
        measures.append(key)
    gains = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[*CLIENT_GAIN_COLUMNS, "measure"])
    con.execute(f"CREATE OR REPLACE TABLE main.stored_sudden_gains ({GAIN_COLUMNS})")
    con.register("found_sudden_gains", gains.astype({"client_id": str, "measure": str, "first_week": "int64",
                                                     "last_week": "int64", "magnitude": float, "reversed": bool}))
    try:
        con.execute("INSERT INTO main.stored_sudden_gains SELECT client_id, measure, first_week, last_week, "
                    "magnitude, reversed FROM found_sudden_gains ORDER BY measure, client_id, first_week")
    finally:
        con.unregister("found_sudden_gains")
    con.execute(f"CREATE OR REPLACE TABLE main.stored_sudden_gain_measures ({GAIN_MEASURE_COLUMNS})")
    if measures:
        con.executemany("INSERT INTO main.stored_sudden_gain_measures VALUES (?, ?, ?, ?)", [list(m) for m in measures])
    return len(gains)


def stored_gain_settings(con: duckdb.DuckDBPyConnection) -> frozenset[tuple[str, int, float, bool]]:
    """The (measure, baseline_days, reliable_change, higher_is_better) whose sudden gains are
    stored (:func:`gain_settings`), on a reading connection after :func:`expose_stored_rows`."""
    rows = con.execute("SELECT measure, baseline_days, reliable_change, higher_is_better "
                       "FROM stored_sudden_gain_measures").fetchall()
    return frozenset((str(m), int(b), float(r), bool(h)) for m, b, r, h in rows)


# The expected recovery curves fitted at import (expected_response_fit.sql with $by_clinic): the
# query's rows for every scope ('cohort' = the whole network, 'clinic:<name>' = one clinic), and per
# scope its clients' latest discharge date and the key of what the fit depends on
# (analytics.expected_response.fit_key). Read only by expected_response_fit_stored.sql.
FIT_TABLES = ("stored_expected_response_fit", "stored_expected_response_fit_scopes")
FIT_COLUMNS = ("fit_scope VARCHAR, measure VARCHAR, n_clients BIGINT, n_scores HUGEINT, c0 DOUBLE, c1 DOUBLE, "
               "cut_1 DOUBLE, cut_2 DOUBLE, band INTEGER, third INTEGER, low DOUBLE, high DOUBLE, "
               "cell_clients BIGINT")
FIT_SCOPE_COLUMNS = "fit_scope VARCHAR, latest_discharge DATE, fit_key VARCHAR"
NETWORK_FIT_SCOPE = "cohort"


def fit_scope_of(viewer: Viewer) -> str | None:
    """The stored fit scope that is exactly the viewer's scope: the whole network
    (:data:`NETWORK_FIT_SCOPE`) for a viewer limited to no clinic and no therapist, 'clinic:<name>'
    for one limited to one clinic and no therapist; None otherwise (a therapist's caseload, several
    clinics, no clinic at all): those are fitted on the viewer's scope every time."""
    if viewer.scope_therapist is not None:
        return None
    clinics = viewer.scope_clinics
    if clinics is None:
        return NETWORK_FIT_SCOPE
    return f"clinic:{clinics[0]}" if len(clinics) == 1 else None


def store_expected_fits(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace the stored expected recovery curves with those of the data ``con`` now holds, under
    ``settings``: the fit query over every client with one scope per clinic besides the whole
    network, no as_of and no fit_before; the macros must be loaded. Returns the scopes stored."""
    from .db import load_sql
    from .expected_response import fit_key, fit_parameters

    sql = load_sql("expected_response_fit")
    params = {**fit_parameters(settings), "cohort": _parameters(settings)["cohort"], "as_of": None,
              "fit_before": None, "by_clinic": True}
    con.execute(f"CREATE OR REPLACE TABLE main.stored_expected_response_fit ({FIT_COLUMNS})")
    con.execute(f"INSERT INTO main.stored_expected_response_fit BY NAME\n{sql}", _used(sql, params))
    con.execute(f"CREATE OR REPLACE TABLE main.stored_expected_response_fit_scopes ({FIT_SCOPE_COLUMNS})")
    con.execute(
        "INSERT INTO main.stored_expected_response_fit_scopes "
        "SELECT $network, max(discharge_date), $key FROM clients "
        "UNION ALL SELECT 'clinic:' || clinic, max(discharge_date), $key FROM clients "
        "WHERE clinic IS NOT NULL GROUP BY clinic",
        {"network": NETWORK_FIT_SCOPE, "key": fit_key(settings)},
    )
    return int(con.execute("SELECT count(*) FROM main.stored_expected_response_fit_scopes").fetchone()[0])


# The cohort summary (analytics.summary: cohort_summary.sql and cohort_summary_paired.sql) of the
# whole network and of each clinic, each row with its scope (as the macro stored_scope names it) and
# the key of what it was computed under (analytics.summary.summary_key). Read by
# stored_cohort_summary(_paired).sql, only for the scope that is exactly the viewer's.
SUMMARY_TABLES = ("stored_cohort_summary", "stored_cohort_summary_paired")


def _scope_viewers(con: duckdb.DuckDBPyConnection) -> dict[str, Viewer]:
    """Each scope a summary is stored for, with a viewer whose scope it is exactly."""
    clinics = [r[0] for r in con.execute(
        "SELECT DISTINCT clinic FROM clients WHERE clinic IS NOT NULL ORDER BY clinic").fetchall()]
    viewers = {NETWORK_FIT_SCOPE: Viewer.local()}
    viewers.update({f"clinic:{c}": Viewer(role="supervisor", email="import", clinics=(c,)) for c in clinics})
    return viewers


def _load_reading_macros(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
    """On the import's connection, the macros a reading connection has (analytics.db.ClinicDatabase)
    over the rows just stored, as TEMP macros (nothing written to the file): the stored settings
    as constants, the stored-or-live row macros and the outcome macros."""
    from .db import load_sql

    _setting_macros(con, {f"stored_{key}": value for key, value in params.items()}, temp=True)
    for macros in ("stored_client_rows", "outcome_macros"):
        con.execute(load_sql(macros).replace("CREATE OR REPLACE MACRO ", "CREATE OR REPLACE TEMP MACRO "))


def store_summaries(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace the stored cohort summaries with those of the data ``con`` now holds, under
    ``settings``: the summary's queries for the whole network and for each clinic, after the
    per-client rows are stored (the queries read them). Returns the scopes stored."""
    from .summary import summary_requests

    _load_reading_macros(con, _parameters(settings))
    viewers = _scope_viewers(con)
    created: set[str] = set()
    for table in SUMMARY_TABLES:
        con.execute(f"DROP TABLE IF EXISTS main.{table}")
    for scope, viewer in viewers.items():
        for name, params in summary_requests(viewer, None, settings).items():
            _store_query_rows(con, name, params, scope, created)  # stored_cohort_summary(_paired): SUMMARY_TABLES
    return len(viewers)


def _store_query_rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any], scope: str,
                      created: set[str], *, ordered: bool = False) -> None:
    """Add the rows of query ``name`` under ``params`` to ``main.stored_<name>`` (made on the first
    call: ``created`` holds the tables made so far), each with ``scope`` and the request's key
    (analytics.summary.summary_key); with ``ordered``, also ``stored_row``, its place in the query's
    ORDER BY (row_number() over the query's own output), the order it is read back in."""
    from .db import load_sql
    from .summary import summary_key

    sql = load_sql(name)
    row = "row_number() OVER () AS stored_row, " if ordered else ""
    select = f"SELECT $summary_scope AS summary_scope, $summary_key AS summary_key, {row}q.* FROM ({sql}) AS q"
    bound = {**_used(sql, params), "summary_scope": scope, "summary_key": summary_key(name, params)}
    table = f"stored_{name}"
    con.execute(f"INSERT INTO main.{table} {select}" if table in created
                else f"CREATE TABLE main.{table} AS {select}", bound)
    created.add(table)


# The Cohort outcomes page's queries over every client of the cohort (cohort_outcomes.model.report_requests:
# relations, band groups, trajectories, follow-up bands, the scatter's bins) for the whole network,
# per configured measure, under the import's settings; each row with the scope, the key of what it
# was computed under (analytics.summary.summary_key) and its place in the query's order. Only in a
# deployment of NETWORK_RESULTS_MIN_CLIENTS clients or more: there the network's live queries take
# seconds (5.4 s of SQL for the network at 1,000,000 clients: the benchmark's XXL, over the 5 s a
# page may take); below it they are quick and an import stores nothing more. Read by
# :func:`stored_network_result` only for the exact scope and key of a request.
NETWORK_RESULT_QUERIES = ("cohort_relations", "cohort_report_groups", "cohort_score_trajectory",
                          "cohort_follow_up_bands", "cohort_compliance_bins")
NETWORK_RESULTS_MIN_CLIENTS = 100_000


def store_network_results(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace the stored network results (:data:`NETWORK_RESULT_QUERIES`) with those of the data
    ``con`` now holds, after :func:`store_summaries` loaded the reading macros; none below
    :data:`NETWORK_RESULTS_MIN_CLIENTS` clients. Returns the measures stored."""
    from .cohort_outcomes.model import report_requests
    from .db import load_sql, macro_files_needed

    for name in NETWORK_RESULT_QUERIES:
        con.execute(f"DROP TABLE IF EXISTS main.stored_{name}")
    clients = int(con.execute("SELECT count(*) FROM main.clients").fetchone()[0])
    if clients < NETWORK_RESULTS_MIN_CLIENTS:
        return 0
    loaded = {"stored_client_rows", "outcome_macros", "macros"}  # load_macros and store_summaries did
    for name in NETWORK_RESULT_QUERIES:
        for file in macro_files_needed(load_sql(name)):
            if file not in loaded:
                con.execute(load_sql(file).replace("CREATE OR REPLACE MACRO ", "CREATE OR REPLACE TEMP MACRO "))
                loaded.add(file)
    measures = [m.name for m in settings.measures]
    created: set[str] = set()
    for measure in measures:
        for name, params in report_requests(Viewer.local(), None, measure, settings).items():
            _store_query_rows(con, name, params, NETWORK_FIT_SCOPE, created, ordered=True)
    return len(measures)


def stored_network_result(db: ClinicDatabase, name: str, params: dict[str, Any]) -> pd.DataFrame | None:
    """The rows of query ``name`` (:data:`NETWORK_RESULT_QUERIES`) stored at import for the request's
    scope (macro stored_scope: the whole network, no filter) and key (the query's text and every
    parameter but the cohort), in the query's order; None when none are (a filter, another setting,
    a small deployment): the caller runs the query."""
    from .summary import summary_key

    table = f"stored_{name}"
    if name not in NETWORK_RESULT_QUERIES or table not in db.tables:
        return None
    frame = db.execute_sql(
        f"SELECT * EXCLUDE (summary_scope, summary_key, stored_row) FROM {table} "
        "WHERE summary_scope = stored_scope($cohort) AND summary_key = $summary_key ORDER BY stored_row",
        {"cohort": params["cohort"], "summary_key": summary_key(name, params)}, label=table)
    return frame if len(frame) else None


# The values of each cohort filter per clinic (the table macro clinic_filter_values over the whole
# network, macros.sql), so a page's filters for the network or a viewer's clinics are read from a few
# thousand stored rows instead of every score and assignment (stored_filter_options.sql). They
# depend on no setting.
FILTER_VALUES_TABLE = "stored_filter_values"


def store_filter_values(con: duckdb.DuckDBPyConnection) -> int:
    """Replace the stored filter values with those of the data ``con`` now holds (after
    :func:`store_client_rows` loaded the macros). Returns the rows stored."""
    con.execute(f"CREATE OR REPLACE TABLE main.{FILTER_VALUES_TABLE} AS "
                "SELECT * FROM clinic_filter_values($cohort) ORDER BY field, value, clinic",
                {"cohort": query_params(Viewer.local())["cohort"]})
    return int(con.execute(f"SELECT count(*) FROM main.{FILTER_VALUES_TABLE}").fetchone()[0])


# The latest session and score date and the first intake per clinic (the table macro clinic_dates,
# macros.sql), so a page's "data as of" date for the network or a viewer's clinics is read from a
# row per clinic instead of every session and score (stored_quality_as_of.sql).
CLINIC_DATES_TABLE = "stored_clinic_dates"


def store_clinic_dates(con: duckdb.DuckDBPyConnection) -> int:
    """Replace the stored clinic dates with those of the data ``con`` now holds. Returns the rows stored."""
    con.execute(f"CREATE OR REPLACE TABLE main.{CLINIC_DATES_TABLE} AS "
                "SELECT * FROM clinic_dates($cohort) ORDER BY clinic",
                {"cohort": query_params(Viewer.local())["cohort"]})
    return int(con.execute(f"SELECT count(*) FROM main.{CLINIC_DATES_TABLE}").fetchone()[0])


# Activity and homework per client and calendar month (the table macro client_month_rows_live over
# the whole network, macros.sql): sums and counts that depend on no setting, so the quality-
# improvement report's monthly trends and funnels read a row per client-month instead of every
# session and assignment (client_month_rows, stored_client_rows.sql).
CLIENT_MONTHS_TABLE = "stored_client_months"
CLIENT_MONTHS_COLUMNS = (
    "client_id VARCHAR, month DATE, sessions_attended BIGINT, sessions_missed BIGINT, assignments BIGINT, "
    "reviewed_assignments BIGINT, quantity_sum DOUBLE, rated_assignments BIGINT, quality_sum DOUBLE, "
    "coverage_sum DOUBLE, follow_up_assignments BIGINT"
)


def store_client_months(con: duckdb.DuckDBPyConnection) -> int:
    """Replace the stored client-months with those of the data ``con`` now holds. Returns the rows stored."""
    con.execute(f"CREATE OR REPLACE TABLE main.{CLIENT_MONTHS_TABLE} ({CLIENT_MONTHS_COLUMNS})")
    con.execute(f"INSERT INTO main.{CLIENT_MONTHS_TABLE} "
                "SELECT * FROM client_month_rows_live($cohort, NULL::VARCHAR[], NULL::DATE, NULL::DATE) "
                "ORDER BY client_id, month",
                {"cohort": query_params(Viewer.local())["cohort"]})
    return int(con.execute(f"SELECT count(*) FROM main.{CLIENT_MONTHS_TABLE}").fetchone()[0])


def stored_fit_scopes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, str]]:
    """Per stored fit scope: (latest discharge date of its clients, fit key), on a reading
    connection after :func:`expose_stored_rows` (empty for a database imported before fits were stored)."""
    rows = con.execute("SELECT fit_scope, latest_discharge, fit_key FROM stored_expected_response_fit_scopes").fetchall()
    return {str(scope): (latest, str(key)) for scope, latest, key in rows}


def expose_stored_rows(con: duckdb.DuckDBPyConnection, present: set[str]) -> bool:
    """Make the stored rows readable on a reading connection (``clinic`` attached, the live
    macros loaded): views of the file's tables, or, for a database imported before rows were
    stored, empty tables. The stored settings become constant scalar macros
    (``stored_baseline_days()`` ...; NULL when nothing is stored), so the macros of
    stored_client_rows.sql prune the branch that does not apply. Returns whether stored rows
    are in use."""
    if all(t in present for t in GAIN_TABLES):
        for table in GAIN_TABLES:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
    else:  # imported before gains were stored: none is read, every cohort's gains are found anew
        con.execute(f"CREATE TABLE stored_sudden_gains ({GAIN_COLUMNS})")
        con.execute(f"CREATE TABLE stored_sudden_gain_measures ({GAIN_MEASURE_COLUMNS})")
    if all(t in present for t in FIT_TABLES):
        for table in FIT_TABLES:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
    else:  # imported before curves were stored: every scope's curves are fitted anew
        con.execute(f"CREATE TABLE stored_expected_response_fit ({FIT_COLUMNS})")
        con.execute(f"CREATE TABLE stored_expected_response_fit_scopes ({FIT_SCOPE_COLUMNS})")
    # read only when present (summary_row, stored_network_result, filter_options, scope_dates)
    network = tuple(f"stored_{name}" for name in NETWORK_RESULT_QUERIES)
    for table in (*SUMMARY_TABLES, *network, FILTER_VALUES_TABLE, CLINIC_DATES_TABLE):
        if table in present:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
    stored = all(t in present for t in (*STORED_TABLES, SETTINGS_TABLE))
    setting: dict[str, Any] = {}
    if stored:
        for table in (*STORED_TABLES, SETTINGS_TABLE):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
        cursor = con.execute(f"SELECT * FROM {SETTINGS_TABLE}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        setting = dict(zip(names, rows[0], strict=True)) if len(rows) == 1 else {}
    else:
        params = _parameters(Settings())
        for table, select in _STORE.items():
            con.execute(f"CREATE TABLE {table} AS {select} LIMIT 0", _used(select, params))
        con.execute(f"CREATE TABLE {SETTINGS_TABLE} ({SETTINGS_COLUMNS})")
    if CLIENT_MONTHS_TABLE in present:
        con.execute(f"CREATE VIEW {CLIENT_MONTHS_TABLE} AS SELECT * FROM clinic.main.{CLIENT_MONTHS_TABLE}")
    else:  # imported before client-months were stored: every period's rows are computed
        con.execute(f"CREATE TABLE {CLIENT_MONTHS_TABLE} ({CLIENT_MONTHS_COLUMNS})")
    _setting_macros(con, {**setting, "stored_client_months_present": CLIENT_MONTHS_TABLE in present})
    return bool(setting)


#: The stored settings as constant scalar macros, with their SQL types (stored_client_rows.sql),
#: and whether the client-months are stored (they depend on no setting).
_SETTING_MACROS = (("stored_baseline_days", "INTEGER"), ("stored_unreviewed_as_not_done", "BOOLEAN"),
                   ("stored_depression_measure", "VARCHAR"), ("stored_anxiety_measure", "VARCHAR"),
                   ("stored_client_months_present", "BOOLEAN"))


def setting_constants(db: Any) -> dict[str, Any]:
    """The values of the constant scalar macros of :data:`_SETTING_MACROS` on ``db`` (an open
    analytics.db.ClinicDatabase) by macro name, as plain Python values (None when not stored): what
    a query's macros are written out with for another engine (analytics.sql_portable)."""
    names = [name for name, _ in _SETTING_MACROS]
    row = db.execute_sql("SELECT " + ", ".join(f"{name}() AS {name}" for name in names), label="stored_settings")
    values = row.astype(object).where(row.notna(), None).iloc[0]
    return {name: (values[name].item() if hasattr(values[name], "item") else values[name]) for name in names}


def _setting_macros(con: duckdb.DuckDBPyConnection, setting: dict[str, Any], *, temp: bool = False) -> None:
    """Create ``stored_baseline_days()`` ... as constants of ``setting`` (by macro name; NULL when
    absent); ``temp``: as TEMP macros (the import's connection writes nothing but tables)."""
    kind = "TEMP MACRO" if temp else "MACRO"
    for name, sql_type in _SETTING_MACROS:
        con.execute(f"CREATE OR REPLACE {kind} {name}() AS {_literal(setting.get(name), sql_type)}")
