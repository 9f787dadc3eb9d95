"""Roles in the running app (AppTest with ``at.user``): each scope rule, "no access", admin pages,
deep links and filter values outside the scope, sign-out, and the local-mode guard.

``at.secrets`` with an ``[auth]`` section switches the app to sign-in mode; ``at.user`` is
what ``st.user`` returns (``is_logged_in`` and the e-mail claim).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

from analytics.audit import search_access_log
from tests.support.clinics import AUTH, ROOT, add_users
from tests.support.clinics import signed_in as signed_in_as
from ui.auth import auth_problems, exposure_problem, host_of, is_loopback, login_providers

USERS = {
    "admin@clinic.org": ("admin", {}),
    "sup.north@clinic.org": ("supervisor", {"clinics": ["North"]}),
    "sup.none@clinic.org": ("supervisor", {}),
    "t1@clinic.org": ("therapist", {"therapist_id": "T1"}),
    "t3@clinic.org": ("therapist", {"therapist_id": "T3"}),
    "qi@clinic.org": ("qi", {}),
}
# e-mail -> clients on the home page (tiny clinic: North C1 C2 (T1) C3 (T2); South C4 C5 (T3))
EXPECTED_CLIENTS = {
    "admin@clinic.org": 5,
    "sup.north@clinic.org": 3,
    "sup.none@clinic.org": 0,
    "t1@clinic.org": 2,
    "t3@clinic.org": 2,
    "qi@clinic.org": "<11",  # de-identified: 5 clients is a small count (issue 10 item 3)
}
PROBE = '''
import streamlit as st

import ui
from analytics import cohort_clients, filter_options
from analytics.access import find_client

viewer = ui.page("Probe")
requested = st.query_params.get("client")
if requested is not None:
    client = ui.run(find_client, viewer, requested)
    if client is None:
        ui.log_not_found(requested)
        st.info("Client not found.")
    else:
        ui.log_client_view(client["client_id"])
        st.success(f"Client {client['client_id']}")
cohort = ui.cohort_filter_sidebar(ui.run(filter_options, viewer, ui.requested_values()))
st.text("clients: " + ",".join(ui.run(cohort_clients, viewer, cohort)["client_id"]))
'''


@pytest.fixture(scope="module")
def users_clinic(tmp_path_factory: pytest.TempPathFactory, tiny_db_path: Path) -> Path:
    """The tiny clinic with a user of every role (built once; each test gets a copy)."""
    db = tmp_path_factory.mktemp("users") / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    return add_users(db, USERS)


@pytest.fixture
def app(tmp_path: Path, users_clinic: Path, serve_copy) -> Path:
    """A copy of the users clinic; its own access log; empty caches."""
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    return serve_copy(users_clinic).parent


def log(app: Path, **filters) -> pd.DataFrame:
    return search_access_log(app / "audit.duckdb", limit=10_000, **filters)


def signed_in(script: Path | str, email: str | None, **query) -> AppTest:
    return signed_in_as(script, email, timeout=30, **query)


OVERVIEW = ("Clients", "Clinics", "Therapists", "Assignments", "Symptom scores")


def metrics(at: AppTest) -> dict[str, str]:
    """Home's "what is loaded" tiles (identified viewers also see their caseload's tiles first)."""
    return {m.label: m.value for m in at.metric if m.label in OVERVIEW}


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "text", "info", "error", "warning", "success")
                    for e in at.get(kind))


# --------------------------------------------------------------------------------------
# Each role on the home page
# --------------------------------------------------------------------------------------


def test_qi_home_suppresses_small_counts_and_shows_months_only(app: Path):
    """Home follows the de-identified rules too: the tiny clinic's 5 clients, 2 clinics,
    3 therapists and 5 assignments are 1-10 and read "<11"; its 13 scores are shown; dates
    are months. An admin sees the exact figures and days."""
    qi = signed_in(ROOT / "dashboard.py", "qi@clinic.org")
    assert not qi.exception, qi.exception
    assert metrics(qi) == {"Clients": "<11", "Clinics": "<11", "Therapists": "<11", "Assignments": "<11",
                           "Symptom scores": "13"}
    assert "Intakes from **2025-01**; latest score **2025-08**." in texts(qi)
    assert "Data as of 2025-08:" in texts(qi)  # the sidebar's as-of date: the month only
    assert "2025-08-01" not in texts(qi)
    admin = signed_in(ROOT / "dashboard.py", "admin@clinic.org")
    assert metrics(admin) == {"Clients": "5", "Clinics": "2", "Therapists": "3", "Assignments": "5",
                              "Symptom scores": "13"}
    assert "Intakes from **2025-01-06**; latest score **2025-08-01**." in texts(admin)


@pytest.mark.parametrize("email", list(EXPECTED_CLIENTS))
def test_each_role_sees_its_scope(app: Path, email: str):
    at = signed_in(ROOT / "dashboard.py", email.upper())  # case does not matter
    assert not at.exception, at.exception
    assert metrics(at)["Clients"] == str(EXPECTED_CLIENTS[email])
    assert f"Signed in as **{email}**" in texts(at)
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert "Local single-user mode" not in texts(at)
    entries = log(app, email=email)
    assert sorted(entries["action"]) == ["login", "view"]
    assert set(entries["role"]) == {USERS[email][0]}


def test_an_unknown_address_sees_no_access_and_nothing_else(app: Path):
    at = signed_in(ROOT / "dashboard.py", "stranger@example.org")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["No access"]
    assert "(stranger@example.org) has no role" in at.error[0].value
    assert metrics(at) == {}
    assert [b.label for b in at.button] == ["Sign out"]
    assert len(at.markdown) == 0 and len(at.get("page_link")) == 0
    denied = log(app)
    assert denied[["email", "action", "detail"]].values.tolist() == [["stranger@example.org", "denied", "no role for this address"]]


def test_an_unverified_address_or_none_sees_no_access(app: Path):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "admin@clinic.org", "email_verified": False}
    at.run()
    assert [t.value for t in at.title] == ["No access"] and metrics(at) == {}
    at = signed_in(ROOT / "dashboard.py", "' OR 1=1 --")
    assert [t.value for t in at.title] == ["No access"] and metrics(at) == {}


def test_signed_out_visitors_see_only_the_sign_in_button(app: Path):
    at = signed_in(ROOT / "dashboard.py", None)
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert metrics(at) == {}
    assert log(app).empty


def test_sign_out(app: Path):
    at = signed_in(ROOT / "dashboard.py", "t1@clinic.org")
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    assert at.user.get("is_logged_in") is False
    assert [b.label for b in at.button] == ["Sign in"] and metrics(at) == {}
    assert log(app, actions=["logout"])[["email", "role"]].values.tolist() == [["t1@clinic.org", "therapist"]]


def test_local_mode_has_full_access_and_says_so(app: Path):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()  # no [auth]: local mode
    assert not at.exception, at.exception
    assert metrics(at)["Clients"] == "5"
    assert "Local single-user mode" in texts(at)
    assert len(at.button) == 0  # no sign-out in local mode
    assert log(app)[["email", "role", "action"]].values.tolist() == [["local", "admin", "view"]]


# --------------------------------------------------------------------------------------
# Admin pages
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["admin_users.py", "admin_audit.py"])
@pytest.mark.parametrize("email", [e for e in USERS if USERS[e][0] != "admin"])
def test_admin_pages_refuse_everyone_else(app: Path, page: str, email: str):
    at = signed_in(ROOT / "pages" / page, email)
    assert not at.exception, at.exception
    assert "No access" in at.error[0].value
    assert len(at.dataframe) == 0 and len(at.get("download_button")) == 0 and len(at.text_input) == 0
    denied = log(app, actions=["denied"])
    assert denied["email"].tolist() == [email] and denied["detail"].tolist() == ["page requires role admin"]


def test_admin_manages_users(app: Path):
    at = signed_in(ROOT / "pages" / "admin_users.py", "admin@clinic.org")
    assert not at.exception, at.exception
    assert sorted(at.dataframe[0].value["email"]) == sorted(USERS)
    # add a therapist
    at.text_input[0].input("New.Person@Clinic.org")
    role_box = next(s for s in at.selectbox if s.label == "Role")
    role_box.select("therapist")
    tid_box = next(s for s in at.selectbox if s.label == "Therapist id")
    tid_box.select("T2")
    at.button(key="FormSubmitter:add_user-Save user").click().run()
    assert not at.exception, at.exception
    assert "Added new.person@clinic.org as therapist." in texts(at)
    assert "new.person@clinic.org" in at.dataframe[0].value["email"].tolist()
    # the new user can sign in and sees T2's client only
    home = signed_in(ROOT / "dashboard.py", "new.person@clinic.org")
    assert metrics(home)["Clients"] == "1"
    # remove them again
    at.run()
    target = next(s for s in at.selectbox if s.label == "User")
    assert "admin@clinic.org" not in target.options  # cannot remove yourself
    target.select("new.person@clinic.org")
    at.checkbox[0].check()
    at.button(key="FormSubmitter:remove_user-Remove user").click().run()
    assert not at.exception, at.exception
    assert "new.person@clinic.org" not in at.dataframe[0].value["email"].tolist()
    changes = log(app, actions=["user_change"])["detail"].tolist()
    assert changes == ["removed new.person@clinic.org", "added new.person@clinic.org: role therapist"]
    gone = signed_in(ROOT / "dashboard.py", "new.person@clinic.org")
    assert [t.value for t in gone.title] == ["No access"]


def test_admin_user_form_rejects_bad_input(app: Path):
    at = signed_in(ROOT / "pages" / "admin_users.py", "admin@clinic.org")
    at.text_input[0].input("' OR 1=1 --")
    at.button(key="FormSubmitter:add_user-Save user").click().run()
    assert not at.exception, at.exception
    assert "Not saved: not a valid e-mail address." in texts(at)
    assert sorted(at.dataframe[0].value["email"]) == sorted(USERS)


def test_admin_searches_the_access_log(app: Path):
    signed_in(ROOT / "dashboard.py", "t1@clinic.org")
    at = signed_in(ROOT / "pages" / "admin_audit.py", "admin@clinic.org")
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert {"t1@clinic.org", "admin@clinic.org"} <= set(shown["email"])
    at.text_input(key="audit_email").input("T1@").run()
    assert set(at.dataframe[0].value["email"]) == {"t1@clinic.org"}
    at.text_input(key="audit_email").input("' OR 1=1 --").run()
    assert not at.exception and "No entries match" in texts(at)


# --------------------------------------------------------------------------------------
# Deep links, filter values and crafted strings: "not found", nothing outside the scope, logged
# --------------------------------------------------------------------------------------


def test_deep_link_to_own_client(app: Path):
    at = signed_in(app / "probe.py", "t1@clinic.org", client="C1")
    assert not at.exception, at.exception
    assert at.success[0].value == "Client C1"
    assert log(app, actions=["client_view"])[["email", "client_id", "page"]].values.tolist() == [
        ["t1@clinic.org", "C1", "Probe"]]


@pytest.mark.parametrize(
    "requested",
    ["C4", "C999", "' OR 1=1 --", "C1' OR '1'='1", "C1\"; DROP TABLE clients; --", "../../etc/passwd", "%", "C%",
     "c1", " C1", "C" * 5000],
    ids=lambda v: repr(v[:20]),
)
def test_deep_links_outside_the_scope_are_not_found_and_logged(app: Path, requested: str):
    at = signed_in(app / "probe.py", "t1@clinic.org", client=requested)
    assert not at.exception, at.exception
    assert at.info[0].value == "Client not found."
    assert len(at.success) == 0
    assert at.text[0].value == "clients: C1,C2"
    entry = log(app, actions=["not_found"])
    assert entry["email"].tolist() == ["t1@clinic.org"]
    assert entry["detail"].iloc[0].startswith("requested client id: " + requested[:50])


def test_filter_values_outside_the_scope_are_dropped_and_logged(app: Path):
    at = signed_in(app / "probe.py", "t1@clinic.org", clinic=["South", "' OR 1=1 --"], therapist=["T3", "T1"],
                   program="../../etc/passwd")
    assert not at.exception, at.exception
    assert at.text[0].value == "clients: C1,C2"  # T1's caseload: nothing from South or T3
    assert at.multiselect(key="filter_clinic").options == ["North"]
    assert at.multiselect(key="filter_therapist").value == ["T1"]
    details = sorted(log(app, actions=["denied"])["detail"])
    assert details == [
        "filter clinic: 2 value(s) not offered to this viewer: 'South', \"' OR 1=1 --\"",
        "filter program: 1 value(s) not offered to this viewer: '../../etc/passwd'",
        "filter therapist: 1 value(s) not offered to this viewer: 'T3'",
    ]


def test_a_supervisor_without_clinics_sees_no_client(app: Path):
    at = signed_in(app / "probe.py", "sup.none@clinic.org", client="C1")
    assert not at.exception, at.exception
    assert at.info[0].value == "Client not found."
    assert at.text[0].value.strip() == "clients:"
    assert at.multiselect(key="filter_clinic").options == []


def test_supervisor_deep_links_stop_at_their_clinics(app: Path):
    for client, found in (("C3", True), ("C4", False)):
        at = signed_in(app / "probe.py", "sup.north@clinic.org", client=client)
        assert (len(at.success) == 1) is found and (len(at.info) == 1) is not found


def test_qi_gets_no_client_level_data(app: Path):
    at = signed_in(app / "probe.py", "qi@clinic.org", client="C1")
    assert not at.exception, at.exception
    assert "Not available for your role" in at.warning[0].value
    assert len(at.success) == 0 and len(at.text) == 0
    assert log(app, actions=["denied"])["email"].tolist() == ["qi@clinic.org"]


# --------------------------------------------------------------------------------------
# Local mode only on this computer; sign-in configuration checks
# --------------------------------------------------------------------------------------


def test_local_mode_refuses_a_non_local_address(app: Path):
    with patch_config_options({"server.address": "0.0.0.0"}):
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Sign-in is not configured"]
    assert "server.address = 0.0.0.0" in at.error[0].value and "[auth]" in at.error[0].value
    assert metrics(at) == {} and log(app).empty
    # with sign-in configured the same address is fine
    with patch_config_options({"server.address": "0.0.0.0"}):
        at = signed_in(ROOT / "dashboard.py", "admin@clinic.org")
    assert metrics(at)["Clients"] == "5"


def test_incomplete_auth_configuration_refuses_to_render(app: Path):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    at.secrets = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "client_id": "x"}}
    at.user = {"is_logged_in": True, "email": "admin@clinic.org"}
    at.run()
    assert [t.value for t in at.title] == ["Sign-in configuration error"]
    assert "cookie_secret" in at.error[0].value and "client_secret" in at.error[0].value
    assert "x" not in at.error[0].value.split("missing")[0].split()  # values are never shown
    assert metrics(at) == {}


def test_guard_functions():
    for address in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(address), address
    for address in (None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "127.0.0.1.evil.example"):
        assert not is_loopback(address), address
    assert host_of("127.0.0.1:8501") == "127.0.0.1" and host_of("[::1]:8501") == "::1" and host_of("localhost") == "localhost"
    assert exposure_problem("127.0.0.1", False, "localhost:8501") is None
    assert exposure_problem("0.0.0.0", True) is None
    assert "server.address = (every interface)" in exposure_problem(None, False)
    assert "proxy or another host name" in exposure_problem("127.0.0.1", False, "attacker.example:8501")  # DNS rebinding
    assert "proxy" in exposure_problem("127.0.0.1", False, "127.0.0.1:8501", forwarded=True)
    assert auth_problems(AUTH["auth"]) == []
    assert login_providers(AUTH["auth"]) == ["default"]
    named = {"redirect_uri": "x", "cookie_secret": "y", "google": {"client_id": "a", "client_secret": "b",
                                                                     "server_metadata_url": "c"}}
    assert login_providers(named) == ["google"] and auth_problems(named) == []
    assert auth_problems({}) == [
        "redirect_uri", "cookie_secret",
        "client_id, client_secret and server_metadata_url (in [auth] or in [auth.<provider>])"]


def test_launcher_binds_to_loopback_unless_sign_in_is_configured(tmp_path: Path):
    if (ROOT / ".streamlit" / "secrets.toml").exists():
        pytest.skip("this checkout has its own .streamlit/secrets.toml")
    script = str(ROOT / "scripts" / "run-dashboard.sh")
    env = {**os.environ, "HOME": str(tmp_path), "DRY_RUN": "1", "PORT": "8642"}
    env.pop("ADDRESS", None)

    def launch(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", script], env={**env, **extra}, capture_output=True, text=True, timeout=60)

    local = launch()
    assert local.returncode == 0, local.stderr
    assert "--server.address 127.0.0.1 --server.port 8642" in local.stdout and "Local single-user mode" in local.stdout
    assert ".venv/bin/python -m ui.serve --server.address" in local.stdout  # the launcher (ui/serve.py) starts it
    exposed = launch(ADDRESS="0.0.0.0")
    assert exposed.returncode == 2 and "Refusing ADDRESS=0.0.0.0" in exposed.stderr and "streamlit" not in exposed.stdout
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "x"\n', encoding="utf-8")
    signed = launch(ADDRESS="0.0.0.0")
    assert signed.returncode == 0 and "--server.address 0.0.0.0" in signed.stdout


# --------------------------------------------------------------------------------------
# Long filter lists: the first values, and any other of the scope typed exactly (issue 12)
# --------------------------------------------------------------------------------------


def test_a_typed_filter_value_is_looked_up_in_the_viewers_scope_only(app: Path, monkeypatch: pytest.MonkeyPatch):
    """A list cut at OPTION_LIMIT (here 1: North's therapists are T1 and T2) offers its first
    value and says so; a typed id outside the scope (T3 is South's) and one that does not exist
    get the same answer and are logged as denied; a typed id of the scope is found and filters
    the clients (and the list, now whole, no longer says it is cut)."""
    monkeypatch.setattr("analytics.data.model.OPTION_LIMIT", 1)
    at = signed_in(app / "probe.py", "sup.north@clinic.org")
    assert not at.exception, at.exception
    therapist = at.multiselect(key="filter_therapist")
    assert therapist.options == ["T1"]
    assert therapist.help == "The first 1 of 2 are listed; type an exact value to find any other."
    assert "clients: C1,C2,C3" in texts(at)

    for typed in ("T3", "T9"):
        at.multiselect(key="filter_therapist").set_value([typed]).run()
        assert not at.exception, at.exception
        assert at.multiselect(key="filter_therapist").value == []
        assert at.multiselect(key="filter_therapist").options == ["T1"]
        assert f"No therapist '{typed}' among the clients you may see." in texts(at)
        assert "clients: C1,C2,C3" in texts(at)
    denied = log(app, actions=["denied"])
    assert denied["detail"].str.contains("filter therapist: 1 value\\(s\\) not offered to this viewer: 'T3'").any()
    assert denied["detail"].str.contains("'T9'").any()

    at.multiselect(key="filter_therapist").set_value(["T2"]).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="filter_therapist").value == ["T2"]
    assert at.multiselect(key="filter_therapist").options == ["T1", "T2"]
    assert not at.multiselect(key="filter_therapist").help
    assert "clients: C3" in texts(at)
    assert "among the clients you may see" not in texts(at)
    assert at.query_params["therapist"] == "T2"
