"""The Caseload page through AppTest, signed in as a therapist, a supervisor and a qi user.

On the hand-built clinic of tests/test_caseload.py (as of 2026-10-30), with users of each role
(``at.user`` with the users table, as in tests/test_app_access.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.audit import search_access_log
from tests.support.clinics import AUTH, NORTH_ORDER, ROOT, T1_ORDER, add_users, build_caseload_clinic, signed_in

PAGE = "pages/caseload.py"
USERS = {
    "t1@clinic.org": ("therapist", {"therapist_id": "T1"}),
    "sup.north@clinic.org": ("supervisor", {"clinics": ["North"]}),
    "qi@clinic.org": ("qi", {}),
    "sup.none@clinic.org": ("supervisor", {}),
}


@pytest.fixture(scope="module")
def users_clinic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return add_users(build_caseload_clinic(tmp_path_factory.mktemp("caseload_users")), USERS)


@pytest.fixture
def app(users_clinic: Path, serve_copy) -> Path:
    return serve_copy(users_clinic).parent


def _signed_in(email: str | None) -> AppTest:
    """Signed in as ``email``; None = local single-user mode (no sign-in configured)."""
    if email is None:
        return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    return signed_in(ROOT / "dashboard.py", email)


def _open_caseload(email: str | None) -> AppTest:
    at = _signed_in(email)
    assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Caseload"]
    return at


def _ids(at: AppTest) -> list[str]:
    table = at.dataframe[0].value
    assert table["Client"].str.startswith("client_review?client=").all()  # relative to the app
    return table["Client"].str.removeprefix("client_review?client=").tolist()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_therapist_sees_their_active_clients_by_need(app: Path):
    at = _open_caseload("t1@clinic.org")
    assert _ids(at) == T1_ORDER
    table = at.dataframe[0].value
    assert "Therapist" not in table.columns  # their own caseload: one therapist
    assert table["Need"].tolist()[:5] == ["Risk: PHQ-9 item 9 above 0", "Reliable deterioration", "Not on track",
                                          "Measures overdue", "No recent contact"]
    assert _metrics(at) == {"Active clients": "8", "Risk flag": "1", "Not on track": "3", "Measures overdue": "1",
                            "No recent contact": "1"}
    assert "Data as of 2026-10-30" in " ".join(c.value for c in at.caption)
    assert "risk protocol" in at.error[0].value
    assert [p.proto.page for p in at.get("page_link")][-1] == "glossary"


def test_supervisor_sees_their_clinic_with_therapists(app: Path):
    at = _open_caseload("sup.north@clinic.org")
    assert _ids(at) == NORTH_ORDER
    table = at.dataframe[0].value
    assert table["Therapist"].tolist() == ["T2" if c == "K9" else "T1" for c in NORTH_ORDER]


def test_local_mode_lists_every_active_client(app: Path):
    at = _open_caseload(None)
    assert _ids(at) == ["K1", "K10", *NORTH_ORDER[1:]]


def test_home_points_therapists_to_the_caseload(app: Path):
    at = _signed_in("t1@clinic.org")
    assert not at.exception, at.exception
    links = {p.proto.label: p.proto.page for p in at.get("page_link")}
    assert links["Caseload: your active clients by need"] == "caseload"


def test_qi_is_refused_and_not_offered_the_page(app: Path):
    home = _signed_in("qi@clinic.org")
    assert not home.exception, home.exception
    assert not [p for p in home.get("page_link") if p.proto.page == "caseload"]
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "qi@clinic.org", "email_verified": True}
    at.run()
    assert not at.exception, at.exception
    assert "No access" in at.error[0].value
    assert len(at.dataframe) == 0 and len(at.metric) == 0
    denied = search_access_log(app / "audit.duckdb", actions=["denied"])
    assert denied[["email", "page"]].values.tolist() == [["qi@clinic.org", "Caseload"]]


def test_a_viewer_without_clients_is_told_so(app: Path):
    at = _open_caseload("sup.none@clinic.org")
    assert at.info[0].value == "No sessions or scores are loaded for the clients you can see."
    assert len(at.dataframe) == 0 and len(at.metric) == 0


@pytest.mark.parametrize(("email", "heading", "order"), [
    ("t1@clinic.org", "Your caseload on 2026-10-30", T1_ORDER),
    ("sup.north@clinic.org", "Your clinics' caseload on 2026-10-30", NORTH_ORDER),
])
def test_home_leads_with_the_viewers_caseload(app, email, heading, order):
    """Issue 15 items 3-4: Home answers "who needs me" first for identified viewers."""
    at = _signed_in(email)
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader][0] == heading
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active clients"] == str(len(order))


def test_home_shows_no_caseload_to_an_aggregates_only_role(app):
    at = _signed_in("qi@clinic.org")
    assert not at.exception, at.exception
    assert "Active clients" not in {m.label for m in at.metric}
    assert not [s for s in at.subheader if "caseload" in s.value]


def test_a_caseload_longer_than_the_list_shows_n_of_m_and_every_count(app_db, sample_db, monkeypatch):
    """Issue 12 item 3: the page lists the first N clients by need and says N of M, the tiles count
    every active client, and more rows or a need filter show the others. The sample clinic has 25
    active clients; the page's smallest list is made 10 here so that it is shorter than the caseload."""
    from analytics import Settings, Viewer, data_as_of
    from analytics.caseload import model
    from analytics.caseload.model import caseload

    monkeypatch.setattr(model, "DEFAULT_LIMIT", 10)
    monkeypatch.setattr(model, "LIMIT_CHOICES", (10, 1000))
    local = Viewer.local()
    everyone = caseload(sample_db, local, data_as_of(sample_db, local), Settings(), limit=model.MAX_LIMIT)
    order = everyone.clients["client_id"].tolist()
    assert len(order) == 25

    at = _open_caseload(None)
    assert _ids(at) == order[:10]
    assert "Showing the first 10 of 25 active clients, most in need first" in " ".join(m.value for m in at.markdown)
    counts = everyone.counts()
    assert _metrics(at) == {"Active clients": "25", "Risk flag": str(counts["risk"]),
                            "Not on track": str(counts["not_on_track"]),
                            "Measures overdue": str(counts["measures_overdue"]), "No recent contact": str(counts["no_contact"])}

    at.selectbox(key="caseload_rows").set_value(1000).run()
    assert not at.exception, at.exception
    assert _ids(at) == order
    assert "Showing all 25 active clients, most in need first." in " ".join(m.value for m in at.markdown)

    at.multiselect(key="caseload_needs").set_value(["Not on track"]).run()
    assert not at.exception, at.exception
    wanted = everyone.clients.loc[everyone.clients["need"] == "Not on track", "client_id"].tolist()
    assert wanted and _ids(at) == wanted
    assert f"Showing all {len(wanted)} active clients with the needs chosen" in " ".join(m.value for m in at.markdown)
    assert _metrics(at)["Active clients"] == "25"  # the counts still cover every active client
