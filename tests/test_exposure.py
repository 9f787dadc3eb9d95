"""Local single-user mode behind a proxy (issue 10, item 2): the Origin/Referer and peer checks.

The real proxy and browser are in tests/browser/test_proxy.py; here the rule itself
(:func:`ui.auth.exposure_problem`) and the app's refusal with the request facts a
Host-rewriting proxy produces (AppTest has no real request, so ``_request_facts`` is
replaced by what the websocket of such a request carries).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.audit import search_access_log
from tests.support.clinics import AUTH, ROOT
from ui import auth
from ui.auth import RequestFacts, exposure_problem, origin_problem

HOST = "127.0.0.1:8501"


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8501", "http://localhost:8501", "HTTP://LOCALHOST:8501",
])
def test_a_local_browser_on_the_address_it_asked_for_is_allowed(origin: str):
    host = "localhost:8501" if "localhost" in origin.lower() else HOST
    assert exposure_problem("127.0.0.1", False, host, origin=origin, referer=origin + "/glossary",
                            origin_required=True) is None
    assert exposure_problem("::1", False, "[::1]:8501", origin="http://[::1]:8501") is None


@pytest.mark.parametrize(("origin", "why"), [
    ("http://127.0.0.2:8501", "came through a proxy"),  # a proxy on another loopback address, Host rewritten
    ("http://192.0.2.2:8501", "not this computer"),  # a proxy on the machine's network address
    ("http://dashboard.clinic.example", "not this computer"),
    ("http://127.0.0.1:9999", "came through a proxy"),  # another port: another origin
    ("null", "not this computer"),  # sandboxed frame or file:// page
    ("http://127.0.0.1.evil.example:8501", "not this computer"),
    ("", "not this computer"),
])
def test_an_origin_that_is_not_the_local_address_asked_for_is_refused(origin: str, why: str):
    problem = exposure_problem("127.0.0.1", False, HOST, origin=origin)
    assert problem is not None and why in problem, problem
    assert "[auth]" in problem and "http://127.0.0.1 or http://localhost" in problem
    # the same rule for a Referer (an Origin that is fine does not excuse it)
    problem = exposure_problem("127.0.0.1", False, HOST, origin="http://127.0.0.1:8501", referer=origin + "/")
    assert problem is not None and "Referer header" in problem


def test_non_loopback_peers_missing_origins_and_sign_in_mode():
    assert "came from `192.0.2.7`" in exposure_problem("127.0.0.1", False, HOST, origin="http://127.0.0.1:8501",
                                                     peer="192.0.2.7")
    assert exposure_problem("127.0.0.1", False, HOST, origin="http://127.0.0.1:8501", peer="127.0.0.1") is None
    # a browser always sends Origin on the websocket: a real request without one was stripped
    assert "no Origin header" in exposure_problem("127.0.0.1", False, HOST, origin_required=True)
    assert exposure_problem("127.0.0.1", False, HOST) is None  # no request to check (AppTest, bare mode)
    # with sign-in configured none of this applies
    assert exposure_problem("0.0.0.0", True, "dashboard.clinic.example", origin="https://dashboard.clinic.example",
                            peer="192.0.2.7", origin_required=True) is None
    assert origin_problem("Origin", None, HOST) is None
    # a crafted header is shown as inert text: no Markdown image, link or HTML reaches the page
    crafted = origin_problem("Origin", "http://evil.example/![x](http://evil.example/p.png)<b>`[a](b)`", HOST)
    assert "`http://evil.example/?[x]?http://evil.example/p.png??b??[a]?b??`" in crafted
    inner = crafted.split("opened as ")[1].split(" (Origin header)")[0]
    assert inner.count("`") == 2 and not set("!()<>") & set(inner)
    assert "no Host header" in origin_problem("Origin", "http://127.0.0.1:8501", None)


@pytest.fixture
def local_app(tiny_db_path: Path, serve_copy) -> Path:
    return serve_copy(tiny_db_path).parent


PROXIED = RequestFacts(host="127.0.0.1:8501", origin="http://127.0.0.2:8501", peer=None, has_request=True)
DIRECT = RequestFacts(host="127.0.0.1:8501", origin="http://127.0.0.1:8501", peer=None, has_request=True)


@pytest.mark.parametrize("script", ["dashboard.py", "pages/glossary.py", "pages/admin_audit.py"])
def test_the_app_refuses_a_host_rewriting_proxy_and_logs_it(local_app: Path, monkeypatch: pytest.MonkeyPatch,
                                                            script: str):
    monkeypatch.setattr(auth, "_request_facts", lambda: PROXIED)
    at = AppTest.from_file(str(ROOT / script), default_timeout=30).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Sign-in is not configured"]
    assert "http://127.0.0.2:8501" in at.error[0].value and "came through a proxy" in at.error[0].value
    assert len(at.metric) == 0 and len(at.dataframe) == 0 and len(at.markdown) == 0
    entries = search_access_log(local_app / "audit.duckdb", limit=100)
    assert entries["action"].tolist() == ["denied"]
    assert "http://127.0.0.2:8501" in entries["detail"].iloc[0]


def test_the_app_serves_a_direct_local_request(local_app: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(auth, "_request_facts", lambda: DIRECT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Clients"] == "5"


# --------------------------------------------------------------------------------------
# Sign-in requires email_verified (issue 10, item 16)
# --------------------------------------------------------------------------------------

ADMIN = "admin@clinic.org"


@pytest.fixture
def signed_in_app(local_app: Path) -> Path:
    from analytics.access import add_user

    add_user(local_app / "clinic.duckdb", ADMIN, "admin")
    return local_app


def sign_in_with_claims(**claims) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": ADMIN, **claims}
    return at.run()


@pytest.mark.parametrize(("claims", "shown"), [
    ({}, "missing"),  # the claim is absent
    ({"email_verified": False}, "False"),
    ({"email_verified": "false"}, "'false'"),
    ({"email_verified": None}, "missing"),
])
def test_sign_in_without_a_verified_email_is_refused_and_logged(signed_in_app: Path, claims: dict, shown: str):
    at = sign_in_with_claims(**claims)
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["No access"]
    message = at.error[0].value
    assert f"({ADMIN}) cannot sign in here" in message and "not verified" not in message
    assert f"did not confirm that the e-mail address is verified (email_verified is {shown})" in message
    assert len(at.metric) == 0 and [b.label for b in at.button] == ["Sign out"]
    entries = search_access_log(signed_in_app / "audit.duckdb", limit=100)
    assert entries[["email", "action"]].values.tolist() == [[ADMIN, "denied"]]
    assert f"(email_verified is {shown})" in entries["detail"].iloc[0]


@pytest.mark.parametrize("verified", [True, "true"])
def test_sign_in_with_a_verified_email_is_allowed(signed_in_app: Path, verified):
    at = sign_in_with_claims(email_verified=verified)
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Clients"] == "5"
    assert search_access_log(signed_in_app / "audit.duckdb", limit=100)["action"].tolist().count("login") == 1


def test_the_setting_lets_a_provider_without_the_claim_sign_in(signed_in_app: Path, monkeypatch: pytest.MonkeyPatch):
    settings = signed_in_app / "settings.toml"
    settings.write_text("require_email_verified = false\n", encoding="utf-8")
    monkeypatch.setenv("BETWEEN_SESSIONS_CONFIG", str(settings))
    at = sign_in_with_claims()  # no email_verified claim at all
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Clients"] == "5"
    # an explicit "not verified" is still refused
    at = sign_in_with_claims(email_verified=False)
    assert [t.value for t in at.title] == ["No access"]
    assert "(email_verified is False)" in at.error[0].value
