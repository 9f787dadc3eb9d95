"""Scope rules for every role, enforced in analytics (SQL), and crafted input that must fail safely.

The tiny clinic (tests/support/clinics.py): North has C1, C2 (therapist T1) and C3 (T2); South has
C4 and C5 (T3). Five assignments (A1, A2 of C1; A3 of C2; A4 of C3; A5 of C4).
"""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest

from analytics import (
    ClinicDatabase,
    CohortFilter,
    Viewer,
    client_homework,
    clients_for_aggregation,
    cohort_clients,
    cohort_summary,
    data_overview,
    filter_options,
    import_files,
    query_params,
)
from analytics.access import (
    PARQUET_MAGIC,
    add_user,
    check_upload,
    find_client,
    list_users,
    normalise_email,
    remove_user,
    validate_user,
    viewer_for_email,
)
from analytics.db import SQL_DIR, sql_files, sql_parameters
from analytics.scope import AccessDenied, FreeTextNotPermitted, IdentifiersNotPermitted
from tests.support.clinics import ROOT, build_tiny_clinic

ALL = ["C1", "C2", "C3", "C4", "C5"]

# role label -> (viewer, the clients it may see)
SCOPES: dict[str, tuple[Viewer, list[str]]] = {
    "admin": (Viewer(role="admin", email="admin@clinic.org"), ALL),
    "local": (Viewer.local(), ALL),
    "supervisor North": (Viewer(role="supervisor", email="s@clinic.org", clinics=("North",)), ["C1", "C2", "C3"]),
    "supervisor North+South": (Viewer(role="supervisor", email="s@clinic.org", clinics=("North", "South")), ALL),
    "supervisor no clinic": (Viewer(role="supervisor", email="s@clinic.org"), []),
    "supervisor unknown clinic": (Viewer(role="supervisor", email="s@clinic.org", clinics=("West",)), []),
    "therapist T1": (Viewer(role="therapist", email="t1@clinic.org", therapist_id="T1"), ["C1", "C2"]),
    "therapist T3": (Viewer(role="therapist", email="t3@clinic.org", therapist_id="T3"), ["C4", "C5"]),
    "therapist T2 limited to South": (
        Viewer(role="therapist", email="t2@clinic.org", therapist_id="T2", clinics=("South",)), []),
    "therapist unknown id": (Viewer(role="therapist", email="t9@clinic.org", therapist_id="T9"), []),
    "qi": (Viewer(role="qi", email="qi@clinic.org"), ALL),
    "qi South": (Viewer(role="qi", email="qi@clinic.org", clinics=("South",)), ["C4", "C5"]),
}
ASSIGNMENTS = {"C1": 2, "C2": 1, "C3": 1, "C4": 1, "C5": 0}
CLINIC_OF = {"C1": "North", "C2": "North", "C3": "North", "C4": "South", "C5": "South"}
THERAPIST_OF = {"C1": "T1", "C2": "T1", "C3": "T2", "C4": "T3", "C5": "T3"}

# Crafted strings tried as client ids, filter values, e-mail addresses and scope values.
CRAFTED = [
    "' OR 1=1 --",
    "' OR '1'='1",
    "North' OR '1'='1",
    "C1' --",
    "C1'; DROP TABLE clients; --",
    '"; DROP TABLE clients; --',
    "' UNION SELECT email, role, NULL, NULL, NULL, NULL, NULL FROM users --",
    "$scope_clinics",
    "NULL",
    "%",
    "_",
    "*",
    "C%",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "C1\x00",
    "\x00",
    "C1\x00' OR 1=1 --",
    "C1\n",
    " C1",
    "c1",
    "Ｃ１",  # full-width
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "<script>alert(1)</script>",
    "A" * 100_000,
]


def crafted_id(value: str) -> str:
    return repr(value[:30])


@pytest.fixture(scope="module")
def tiny_db(tiny_db_path: Path):
    """The tiny clinic, opened once for this module (read-only: tests cannot change it)."""
    with ClinicDatabase(tiny_db_path) as db:
        yield db


@pytest.fixture(scope="module")
def users_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny clinic with a user of every role (written through atomic_write)."""
    path = build_tiny_clinic(tmp_path_factory.mktemp("access"))
    add_user(path, "Admin@Clinic.org", "admin")
    add_user(path, "sup.north@clinic.org", "supervisor", clinics=["North"])
    add_user(path, "sup.none@clinic.org", "supervisor")
    add_user(path, " T1@clinic.org ", "therapist", therapist_id="T1")
    add_user(path, "qi@clinic.org", "qi")
    return path


# --------------------------------------------------------------------------------------
# Scope rules through every analytics function that exists now
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", list(SCOPES))
def test_each_role_sees_exactly_its_scope(tiny_db: ClinicDatabase, label: str):
    viewer, expected = SCOPES[label]
    assert clients_for_aggregation(tiny_db, viewer)["client_id"].tolist() == expected
    if viewer.can_see_identifiers:
        assert cohort_clients(tiny_db, viewer)["client_id"].tolist() == expected
    homework = client_homework(tiny_db, viewer)
    assert homework["client_id"].tolist() == [c for c in expected if ASSIGNMENTS[c]]
    summary = cohort_summary(tiny_db, viewer)
    assert summary["clients"] == len(expected)
    assert summary["assignments"] == sum(ASSIGNMENTS[c] for c in expected)
    overview = data_overview(tiny_db, viewer)
    assert overview["clients"] == len(expected)
    assert overview["clinics"] == len({CLINIC_OF[c] for c in expected})
    options = filter_options(tiny_db, viewer)
    assert options["clinic"] == sorted({CLINIC_OF[c] for c in expected})
    assert options["therapist"] == sorted({THERAPIST_OF[c] for c in expected})


def test_scope_parameters_per_role():
    assert Viewer(role="admin").scope_clinics is None
    assert Viewer(role="admin", clinics=("North",)).scope_clinics is None  # admins are never limited
    assert Viewer(role="supervisor").scope_clinics == []  # impossible filter, not "everything"
    assert Viewer(role="supervisor", clinics=["North"]).scope_clinics == ["North"]
    assert Viewer(role="therapist", therapist_id="T1").scope_clinics is None
    assert Viewer(role="therapist", therapist_id="T1").scope_therapist == "T1"
    assert Viewer(role="supervisor", therapist_id="T1").scope_therapist is None
    assert Viewer(role="qi").scope_clinics is None
    with pytest.raises(ValueError):
        Viewer(role="therapist")  # a therapist without caseload id is not a viewer
    with pytest.raises(ValueError):
        Viewer(role="root")


@pytest.mark.parametrize(
    ("label", "cohort"),
    [
        ("therapist T1", CohortFilter.of(therapists="T3")),
        ("therapist T1", CohortFilter.of(clinics="South")),
        ("supervisor North", CohortFilter.of(clinics="South")),
        ("supervisor North", CohortFilter.of(therapists="T3")),
        ("supervisor no clinic", CohortFilter.of(clinics=["North", "South"])),
        ("qi South", CohortFilter.of(clinics="North")),
    ],
)
def test_filters_can_only_narrow_the_scope(tiny_db: ClinicDatabase, label: str, cohort: CohortFilter):
    viewer, _ = SCOPES[label]
    assert clients_for_aggregation(tiny_db, viewer, cohort).empty
    assert client_homework(tiny_db, viewer, cohort).empty
    assert cohort_summary(tiny_db, viewer, cohort)["clients"] == 0


def test_a_filter_naming_in_and_out_of_scope_values_keeps_only_the_scope(tiny_db: ClinicDatabase):
    viewer, _ = SCOPES["supervisor North"]
    cohort = CohortFilter.of(clinics=["North", "South"], therapists=["T1", "T3"])
    assert cohort_clients(tiny_db, viewer, cohort)["client_id"].tolist() == ["C1", "C2"]


def test_the_scope_cannot_be_overridden_through_extra_parameters():
    viewer, _ = SCOPES["therapist T1"]
    with pytest.raises(ValueError, match="scope"):
        query_params(viewer, scope_therapist=None)
    with pytest.raises(ValueError, match="scope"):
        query_params(viewer, scope_clinics=["North", "South"])


def test_qi_viewers_get_aggregates_but_no_identifiers_or_free_text(tiny_db: ClinicDatabase):
    qi, _ = SCOPES["qi"]
    assert cohort_summary(tiny_db, qi)["clients"] == 5  # aggregates work
    with pytest.raises(IdentifiersNotPermitted) as info:
        qi.require_identifiers()
    assert isinstance(info.value, PermissionError) and isinstance(info.value, AccessDenied)
    with pytest.raises(FreeTextNotPermitted):
        qi.require_free_text()
    with pytest.raises(IdentifiersNotPermitted):
        find_client(tiny_db, qi, "C1")
    for label in ("admin", "supervisor North", "therapist T1"):
        viewer, _ = SCOPES[label]
        viewer.require_identifiers()
        viewer.require_free_text()


def test_identifiable_metrics_refuse_qi(tiny_db: ClinicDatabase):
    qi, _ = SCOPES["qi"]
    with pytest.raises(IdentifiersNotPermitted):
        cohort_clients(tiny_db, qi)


# --------------------------------------------------------------------------------------
# Deep links: out of scope answers exactly like "does not exist"
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", [k for k in SCOPES if not k.startswith("qi")])
def test_find_client_only_inside_the_scope(tiny_db: ClinicDatabase, label: str):
    viewer, expected = SCOPES[label]
    for client in ALL:
        found = find_client(tiny_db, viewer, client)
        if client in expected:
            assert found is not None and found["client_id"] == client and found["clinic"] == CLINIC_OF[client]
        else:
            assert found is None
    assert find_client(tiny_db, viewer, "C999") is None


def test_out_of_scope_and_missing_clients_are_indistinguishable(tiny_db: ClinicDatabase):
    viewer, _ = SCOPES["therapist T1"]
    assert find_client(tiny_db, viewer, "C4") == find_client(tiny_db, viewer, "C999") is None


@pytest.mark.parametrize("value", CRAFTED, ids=crafted_id)
def test_crafted_client_ids_are_not_found(tiny_db: ClinicDatabase, value: str):
    for label in ("admin", "therapist T1", "supervisor North"):
        viewer, _ = SCOPES[label]
        assert find_client(tiny_db, viewer, value) is None
    for not_text in (None, 1, ["C1"], b"C1", ("C1",)):
        assert find_client(tiny_db, SCOPES["admin"][0], not_text) is None


# --------------------------------------------------------------------------------------
# Crafted filter values and scope values: nothing, and never an error
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", CRAFTED, ids=crafted_id)
def test_crafted_filter_values_select_nothing(tiny_db: ClinicDatabase, value: str):
    admin, _ = SCOPES["admin"]
    for field in ("clinics", "therapists", "programs", "concerns"):
        cohort = CohortFilter.of(**{field: value})
        assert cohort_clients(tiny_db, admin, cohort).empty, field
        assert client_homework(tiny_db, admin, cohort).empty, field
        assert cohort_summary(tiny_db, admin, cohort)["clients"] == 0, field
    # homework types restrict the assignments counted; measures the measures reported
    assert client_homework(tiny_db, admin, CohortFilter.of(homework_types=value)).empty
    assert cohort_summary(tiny_db, admin, CohortFilter.of(measures=value))["measures"] == {}


@pytest.mark.parametrize("value", CRAFTED, ids=crafted_id)
def test_crafted_scope_values_see_nothing(tiny_db: ClinicDatabase, value: str):
    for viewer in (
        Viewer(role="therapist", email="x@clinic.org", therapist_id=value),
        Viewer(role="supervisor", email="x@clinic.org", clinics=(value,)),
        Viewer(role="qi", email="x@clinic.org", clinics=(value,)),
    ):
        assert clients_for_aggregation(tiny_db, viewer).empty
        assert data_overview(tiny_db, viewer)["clients"] == 0
        assert filter_options(tiny_db, viewer)["clinic"] == []


def test_crafted_values_left_the_database_intact(tiny_db_path: Path):
    with ClinicDatabase(tiny_db_path) as db:
        assert db.execute_sql("SELECT count(*) AS n FROM clients")["n"].iloc[0] == 5


def test_crafted_dates_in_a_filter_are_rejected_before_any_query():
    for value in ("2025-01-01' OR 1=1 --", "../../etc/passwd", "\x00"):
        with pytest.raises(ValueError):
            CohortFilter.of(intake_from=value)


# --------------------------------------------------------------------------------------
# Users table and viewer_for_email
# --------------------------------------------------------------------------------------


def test_viewer_for_email_maps_roles_and_normalises_addresses(users_db: Path):
    with ClinicDatabase(users_db) as db:
        assert viewer_for_email(db, "ADMIN@clinic.org ") == Viewer(role="admin", email="admin@clinic.org")
        assert viewer_for_email(db, "sup.north@clinic.org") == Viewer(
            role="supervisor", email="sup.north@clinic.org", clinics=("North",))
        assert viewer_for_email(db, "t1@CLINIC.org") == Viewer(role="therapist", email="t1@clinic.org", therapist_id="T1")
        assert viewer_for_email(db, "qi@clinic.org").role == "qi"
        none = viewer_for_email(db, "sup.none@clinic.org")
        assert none.role == "supervisor" and cohort_clients(db, none).empty
        assert viewer_for_email(db, "stranger@clinic.org") is None
        assert list_users(db)["email"].tolist() == [
            "admin@clinic.org", "sup.none@clinic.org", "sup.north@clinic.org", "t1@clinic.org", "qi@clinic.org"]


@pytest.mark.parametrize(
    "email",
    [*CRAFTED, "admin@clinic.org' --", "admin@clinic.org\x00", "' OR email LIKE '%", "%@clinic.org", "", None, 7],
    ids=lambda v: crafted_id(str(v)),
)
def test_crafted_emails_get_no_viewer(users_db: Path, email: object):
    with ClinicDatabase(users_db) as db:
        assert viewer_for_email(db, email) is None


def test_a_database_without_users_gives_no_viewer(tiny_db: ClinicDatabase):
    assert viewer_for_email(tiny_db, "admin@clinic.org") is None


def test_user_validation():
    assert normalise_email("  Ana.Lopez@Clinic.ORG ") == "ana.lopez@clinic.org"
    for bad in ("", "ana", "ana@", "@clinic.org", "a b@clinic.org", "a@b@c", "ana@clinic.org\x00", "x" * 250 + "@c.org"):
        with pytest.raises(ValueError):
            normalise_email(bad)
    with pytest.raises(ValueError, match="therapist"):
        validate_user("t@clinic.org", "therapist")
    with pytest.raises(ValueError, match="only therapists"):
        validate_user("s@clinic.org", "supervisor", ["North"], "T1")
    with pytest.raises(ValueError, match="admin"):
        validate_user("a@clinic.org", "admin", ["North"])
    with pytest.raises(ValueError, match="unknown role"):
        validate_user("a@clinic.org", "superuser")
    with pytest.raises(ValueError, match="clinic"):
        validate_user("s@clinic.org", "supervisor", ["North\x00"])
    assert validate_user("s@clinic.org", "supervisor", [" North ", "North", "South"]).clinics == ("North", "South")


def test_users_survive_an_import_and_removal_takes_effect(tmp_path: Path):
    path = build_tiny_clinic(tmp_path / "clinic")
    change = add_user(path, "t1@clinic.org", "therapist", therapist_id="T1")
    assert change.created and change.warnings == ()
    again = add_user(path, "T1@clinic.org", "therapist", therapist_id="T2")
    assert not again.created
    warned = add_user(path, "s@clinic.org", "supervisor", clinics=["Nort"])
    assert any("Nort" in w for w in warned.warnings)
    # an import swaps the whole file: the users table must come along
    extra = tmp_path / "clients.csv"
    extra.write_text("client_id,clinic,therapist_id,intake_date\nC6,North,T2,2025-06-02\n", encoding="utf-8")
    assert import_files(path, [extra]).exit_code == 0
    with ClinicDatabase(path) as db:
        viewer = viewer_for_email(db, "t1@clinic.org")
        assert viewer.therapist_id == "T2"
        assert cohort_clients(db, viewer)["client_id"].tolist() == ["C3", "C6"]
    assert remove_user(path, "T1@Clinic.org") is True
    assert remove_user(path, "t1@clinic.org") is False
    with ClinicDatabase(path) as db:
        assert viewer_for_email(db, "t1@clinic.org") is None
        assert len(cohort_clients(db, Viewer.local())) == 6


def test_a_malformed_users_row_fails_closed(tmp_path: Path):
    path = build_tiny_clinic(tmp_path / "clinic")
    from analytics.storage import atomic_write

    with atomic_write(path) as con:  # a therapist row without therapist_id, written behind our back
        con.execute("INSERT INTO users VALUES ('odd@clinic.org', 'therapist', NULL, NULL, now())")
    with ClinicDatabase(path) as db:
        assert viewer_for_email(db, "odd@clinic.org") is None


# --------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------


def test_upload_checks(tmp_path: Path):
    limit = 1_000
    assert check_upload("clients.csv", b"client_id,clinic\nC1,North\n", limit) is None
    assert check_upload("clients.csv", "client_id\nJos\u00e9\n".encode(), limit) is None
    assert check_upload("a.xlsx", b"PK\x03\x04" + b"\x00" * 50, limit) is None
    assert check_upload("a.parquet", PARQUET_MAGIC + b"\x00" * 8 + PARQUET_MAGIC, limit) is None
    assert "empty" in check_upload("clients.csv", b"", limit)
    assert "upload limit" in check_upload("clients.csv", b"x" * (limit + 1), limit)
    assert "not UTF-8" in check_upload("clients.csv", b"client_id\n\xff\xfe\n", limit)
    assert "NUL" in check_upload("clients.csv", b"client_id\nC1\x00\n", limit)
    assert "not an Excel" in check_upload("a.xlsx", b"client_id,clinic\n", limit)
    assert "not an Excel" in check_upload("old.xlsx", b"\xd0\xcf\x11\xe0" + b"\x00" * 20, limit)  # a renamed .xls
    assert "not a Parquet" in check_upload("a.parquet", PARQUET_MAGIC + b"truncated", limit)
    assert "unsupported" in check_upload("a.exe", b"MZ", limit)
    assert "unsupported" in check_upload("clients", b"client_id\n", limit)
    # a multi-byte character cut at the end is not valid text
    assert "not UTF-8" in check_upload("c.csv", "é".encode()[:1], limit)
    # the message shows the file name without path or control characters, never the content
    message = check_upload("../../etc/passwd\n.csv", b"secret C1\x00", limit)
    assert message.startswith("passwd?.csv") and "\n" not in message and "secret" not in message
    # the real files of the tiny clinic pass
    build_tiny_clinic(tmp_path)
    for name in ("clients.csv", "assignments.csv"):
        assert check_upload(name, (tmp_path / name).read_bytes(), 200 * 1_000_000) is None


def test_streamlit_upload_limit_matches_settings():
    import tomllib

    from analytics import Settings

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == Settings().max_upload_mb == 200
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"


# --------------------------------------------------------------------------------------
# Static checks: every client query is scoped; no SQL is built from values
# --------------------------------------------------------------------------------------

# Queries that read no client data (import runs, dashboard users), or admin data whose role
# check is in Python (import rejects: analytics.data.model.require_import_rights).
# therapists_in_deployment: one count of the whole deployment's therapists, the length of every view's
# pseudonyms (analytics.quality_improvement.model.therapist_pseudonyms); no id leaves the database.
UNSCOPED_SQL = {"macros", "stored_macros", "outcome_macros", "alert_macros", "cohort_macros", "stored_client_rows", "import_history", "import_rejects", "import_rejects_count", "import_rejects_choices",
                "users_list", "user_by_email", "access_log_search", "therapists_in_deployment"}
# Table macros (analytics/sql/macros.sql) that start from the scoped cohort themselves.
SCOPED_MACROS = ("cohort_clients", "client_homework_rows", "scoped_client", "scoped_client_assignments",
                 "client_measure_score_rows", "client_paired_score_rows", "alert_client_rows", "caseload_client_rows",
                 "score_interval_rows", "cohort_measure_clients", "clinic_filter_values", "clinic_dates",
                 "client_month_rows")
SCOPE_CALL = re.compile(r"\b(?:" + "|".join(SCOPED_MACROS) + r")\(\s*\$cohort\b")


# Those stored at import (analytics/stored.py): the macro that computes the rows (macros.sql) and
# the one queries call (stored_client_rows.sql), which reads the stored rows of the cohort.
STORED_MACROS = ("client_homework_rows", "client_measure_score_rows", "client_paired_score_rows", "client_month_rows")


def test_scoped_table_macros_start_from_the_scoped_cohort():
    code = "".join(re.sub(r"--[^\n]*", "", (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))
                   for name in ("macros", "stored_client_rows", "alert_macros"))
    # cohort_measure_clients (cohort_macros.sql): test_the_cohort_page_clients_start_from_the_scoped_cohort.
    names = [*(m for m in SCOPED_MACROS[1:] if m != "cohort_measure_clients"), *(f"{name}_live" for name in STORED_MACROS)]
    for name in names:
        bodies = re.findall(rf"CREATE OR REPLACE MACRO {name}\(cohort\b.*?;", code, re.S)
        assert len(bodies) == 1, name
        assert re.search(r"\b(?:cohort_clients|scoped_client|alert_client_rows)\(cohort\b", bodies[0]), name
        assert not re.search(r"\bFROM\s+clients\b", bodies[0], re.IGNORECASE), name


def test_the_cohort_page_clients_start_from_the_scoped_cohort():
    """cohort_measure_clients (cohort_macros.sql) reads clients only through the scoped row macros."""
    code = re.sub(r"--[^\n]*", "", (SQL_DIR / "cohort_macros.sql").read_text(encoding="utf-8"))
    (body,) = re.findall(r"CREATE OR REPLACE MACRO cohort_measure_clients\(cohort\b.*?;", code, re.S)
    assert re.search(r"\bclient_homework_rows\(cohort\b", body) and re.search(r"\bclient_measure_score_rows\(cohort\b", body)
    assert not re.search(r"\bFROM\s+(?:clients|scores|assignments|sessions)\b", body, re.IGNORECASE)


def test_the_unscoped_allow_list_names_only_existing_queries():
    assert UNSCOPED_SQL <= set(sql_files())


# Queries of aggregates stored at import per scope: they read no client row, and the stored scope
# they read is derived in SQL from the $cohort STRUCT (never a scope name chosen by the caller).
STORED_SCOPE_SQL = {"expected_response_fit_stored", "stored_cohort_summary", "stored_cohort_summary_paired"}


def test_stored_scope_queries_take_their_scope_from_the_cohort_struct():
    for name in STORED_SCOPE_SQL:
        code = re.sub(r"--[^\n]*", "", sql_files()[name].read_text(encoding="utf-8"))
        assert re.search(r"WHERE \w+\.(?:fit|summary)_scope = stored_scope\(\$cohort\)", code), name
        assert sql_parameters(code) == {"cohort"}, name
        assert not re.search(r"\bFROM\s+(clients|scores|sessions|assignments)\b", code, re.IGNORECASE), name


# Queries of values stored at import per clinic: they read no client row, and which clinics' rows
# they read is decided in SQL from the $cohort STRUCT (stored_clinic_in_scope, stored_macros.sql).
STORED_CLINIC_SQL = {"stored_filter_options", "stored_quality_as_of"}


def test_stored_clinic_queries_take_their_clinics_from_the_cohort_struct():
    for name in STORED_CLINIC_SQL:
        code = re.sub(r"--[^\n]*", "", sql_files()[name].read_text(encoding="utf-8"))
        assert re.search(r"WHERE stored_clinic_in_scope\(\$cohort, \w+\.clinic\)", code), name
        assert sql_parameters(code) <= {"cohort", "wanted", "option_limit"}, name
        assert not re.search(r"\bFROM\s+(clients|scores|sessions|assignments)\b", code, re.IGNORECASE), name


def _caseloads_and_filtered_cohorts(value: str) -> list[dict]:
    """Cohorts narrower than whole clinics: therapists' caseloads, and the network or a clinic
    (North) with any filter (``value`` for the list filters)."""
    supervisor = Viewer(role="supervisor", email="s@x", clinics=("North",))
    return [
        query_params(Viewer(role="therapist", email="t@x", therapist_id="T1"))["cohort"],
        query_params(Viewer(role="therapist", email="t@x", therapist_id="T1", clinics=("North",)))["cohort"],
        *(query_params(v, CohortFilter.of(**{f: [value]}))["cohort"]
          for v in (Viewer.local(), supervisor) for f in ("clinics", "therapists", "programs", "concerns")),
        query_params(Viewer.local(), CohortFilter(intake_from=date(2026, 1, 1)))["cohort"],
        query_params(supervisor, CohortFilter(intake_to=date(2026, 1, 31)))["cohort"],
    ]


def _stored_clinic_in_scope(cohort: dict, clinic: str | None) -> bool:
    import duckdb

    from analytics.db import load_sql

    con = duckdb.connect()
    con.execute(load_sql("stored_macros"))
    return con.execute("SELECT stored_clinic_in_scope($cohort, $clinic)", {"cohort": cohort, "clinic": clinic}).fetchone()[0]


def test_stored_clinic_rows_are_read_for_whole_clinics_of_the_scope_only():
    """stored_clinic_in_scope: the network reads every clinic's rows (and those of clients without
    a clinic), a viewer limited to clinics those clinics' rows; a caseload or any filter reads none."""
    local = query_params(Viewer.local())["cohort"]
    assert _stored_clinic_in_scope(local, "North") and _stored_clinic_in_scope(local, None)
    two = query_params(Viewer(role="supervisor", email="s@x", clinics=("North", "South")))["cohort"]
    assert _stored_clinic_in_scope(two, "North") and _stored_clinic_in_scope(two, "South")
    assert not _stored_clinic_in_scope(two, "East") and not _stored_clinic_in_scope(two, None)
    for cohort in _caseloads_and_filtered_cohorts("North"):
        assert not _stored_clinic_in_scope(cohort, "North"), cohort
    assert set(local) == {
        "scope_clinics", "scope_therapist", "clinics", "therapists", "programs", "concerns", "intake_from", "intake_to"}


def _stored_scope(cohort: dict) -> str | None:
    import duckdb

    from analytics.db import load_sql

    con = duckdb.connect()
    con.execute(load_sql("stored_macros"))
    return con.execute("SELECT stored_scope($cohort)", {"cohort": cohort}).fetchone()[0]


def test_the_stored_scope_is_the_viewers_whole_scope_and_nothing_narrower():
    """stored_scope (stored_macros.sql): the whole network or one clinic, exactly; a therapist's
    caseload, several clinics or any filter read nothing stored."""
    supervisor = Viewer(role="supervisor", email="s@x", clinics=("North",))
    assert _stored_scope(query_params(Viewer.local())["cohort"]) == "cohort"
    assert _stored_scope(query_params(supervisor)["cohort"]) == "clinic:North"
    narrower = [query_params(Viewer(role="supervisor", email="s@x", clinics=("North", "South")))["cohort"],
                *_caseloads_and_filtered_cohorts("x")]
    for cohort in narrower:
        assert _stored_scope(cohort) is None, cohort
    # every field of the STRUCT is looked at: a new field fails here until stored_scope says what it means
    assert set(query_params(Viewer.local())["cohort"]) == {
        "scope_clinics", "scope_therapist", "clinics", "therapists", "programs", "concerns", "intake_from", "intake_to"}


@pytest.mark.parametrize(
    "sql_file", [p for name, p in sorted(sql_files().items()) if name not in UNSCOPED_SQL | STORED_SCOPE_SQL | STORED_CLINIC_SQL],
    ids=lambda p: p.stem,
)
def test_every_client_query_starts_from_the_scoped_cohort(sql_file: Path):
    text = sql_file.read_text(encoding="utf-8")
    code = re.sub(r"--[^\n]*", "", text)
    assert SCOPE_CALL.search(code), f"{sql_file.name} must start from cohort_clients($cohort) (the scope and filters in one STRUCT)"
    # every client table is reached through the cohort, never read on its own terms
    assert not re.search(r"\bFROM\s+clients\b", code, re.IGNORECASE), f"{sql_file.name} reads clients directly"


SQL_METHODS = {"execute", "executemany", "sql", "query", "execute_sql"}
# Reviewed: these build SQL text from identifiers of allow-lists (schema.py column lists,
# READABLE_TABLES, stored.STORED_TABLES, generated relation names) and quote the rest with a literal helper.
# lake.py: the relation names of the reader's own catalog (checked against [a-z_][a-z0-9_]*), the
# snapshot's paths through the literal helper, and constants.
REVIEWED_DYNAMIC_SQL = {"db.py", "ingest/checks.py", "ingest/importer.py", "lake.py", "schema.py", "storage.py", "stored.py"}


def test_no_sql_is_formatted_from_values():
    offenders = []
    for module in sorted((ROOT / "analytics").rglob("*.py")):
        if module.relative_to(ROOT / "analytics").as_posix() in REVIEWED_DYNAMIC_SQL:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS:
                first = node.args[0] if node.args else None
                formatted = isinstance(first, ast.JoinedStr) or (
                    isinstance(first, ast.BinOp) and isinstance(first.op, (ast.Mod, ast.Add))
                ) or (isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute) and first.func.attr == "format")
                if formatted:
                    offenders.append(f"{module.name}:{node.lineno}")
    assert offenders == [], f"SQL built by string formatting: {offenders}"
