"""Sign-in, roles and the local-mode guard (docs/security.md).

Two modes, decided by ``.streamlit/secrets.toml``:

- **Sign-in** when it has an ``[auth]`` section (Streamlit's OpenID Connect: ``st.login``,
  ``st.user``). The signed-in e-mail address is looked up in the clinic database's
  ``users`` table (:func:`analytics.access.viewer_for_email`); an address with no role
  sees "no access" and a sign-out button, nothing else.
- **Local single-user mode** otherwise: full access (``Viewer.local()``), a banner says so,
  and the server must listen on a loopback address only. Started on any other address, the
  app refuses to render and says how to configure sign-in. In local mode a request that
  arrives through a proxy or under a non-local host name (DNS rebinding) is refused too,
  and so is one whose browser ``Origin``/``Referer`` is not the loopback address it asked
  for (a proxy that rewrites ``Host`` to 127.0.0.1 and adds no ``X-Forwarded-*`` header),
  or that comes from a non-loopback peer address (:func:`exposure_problem`).

Every page reaches these checks through :func:`ui.page` (which calls :func:`ui.viewer`
first); ``dashboard.py`` calls :func:`ui.viewer` before ``st.navigation`` so that a
refused visitor does not even see the page list.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import streamlit as st
from streamlit import config as st_config

from analytics import Viewer, active_settings
from analytics.access import normalise_email, viewer_for_email

from .audit import log_denied, log_event
from .context import run
from .session import VIEWER_KEY, auth_section
from .text import md

DOCS = "docs/security.md"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
# session_state keys (underscore: not widgets)
_LOGIN_LOGGED = "_bs_login_logged"
_DENIED_LOGGED = "_bs_denied_logged"


# --------------------------------------------------------------------------------------
# Configuration checks (pure where possible, so tests can call them directly)
# --------------------------------------------------------------------------------------


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of localhost; False for anything
    else, including "" / None / 0.0.0.0, which mean *every* interface."""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header_value: str | None) -> str:
    """The host name of an HTTP Host header: ``127.0.0.1:8501`` -> ``127.0.0.1``,
    ``[::1]:8501`` -> ``::1``."""
    value = (header_value or "").strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def auth_problems(section: Mapping[str, Any]) -> list[str]:
    """What is missing from an ``[auth]`` section for ``st.login`` to work (names only,
    never values)."""
    missing = [k for k in ("redirect_uri", "cookie_secret") if not section.get(k)]
    providers = login_providers(section)
    if not providers:
        missing.append("client_id, client_secret and server_metadata_url (in [auth] or in [auth.<provider>])")
    else:
        for name in providers:
            provider = section if name == "default" else section[name]
            gaps = [k for k in _PROVIDER_KEYS if not provider.get(k)]
            if gaps:
                label = "[auth]" if name == "default" else f"[auth.{name}]"
                missing.append(f"{', '.join(gaps)} in {label}")
    return missing


def login_providers(section: Mapping[str, Any]) -> list[str]:
    """Provider names to offer: "default" when [auth] itself names a client, else each
    [auth.<provider>] subsection."""
    if section.get("client_id") or section.get("server_metadata_url"):
        return ["default"]
    return [name for name, value in section.items() if isinstance(value, Mapping)]


_NOT_LOCAL = (
    "This dashboard has no sign-in configured, so it only answers a browser on this computer that "
    "opened it directly (http://127.0.0.1 or http://localhost). "
)


def _shown(value: str | None, limit: int = 200) -> str:
    """A header value as inert text for the refusal message: only the characters of a URL
    origin (anything else becomes ``?``), in a code span, so a crafted header cannot add
    Markdown, links or images to the page."""
    if value is None:
        return "(none)"
    text = re.sub(r"[^A-Za-z0-9.:/\[\]_%-]", "?", value.strip()[:limit])
    return f"`{text}`" if text else "(empty)"


def _origin_key(value: str, default_scheme: str = "http") -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL (``http://127.0.0.1:8501/page`` ->
    ``("http", "127.0.0.1", 8501)``); a bare ``Host`` header value takes ``default_scheme``.
    None when it cannot be parsed (``null``, garbage, a bad port)."""
    text = value.strip()
    if "://" not in text:
        text = f"{default_scheme}://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def origin_problem(header: str, value: str | None, host_header: str | None) -> str | None:
    """Why a browser ``Origin`` or ``Referer`` does not belong to a local-mode request, or None.

    It must be a loopback address **and** the very address the server was asked for (the
    ``Host`` header, scheme and port included). A proxy on another address that forwards
    with ``Host: 127.0.0.1:PORT`` fails the second test even when it listens on another
    loopback address (127.0.0.2), since the browser still names the proxy's address.
    """
    if value is None:
        return None
    shown = _shown(value)
    origin = _origin_key(value)
    if origin is None or not is_loopback(origin[1]):
        return f"{_NOT_LOCAL}This page was opened as {shown} ({header} header), which is not this computer."
    host = _origin_key(host_header, default_scheme=origin[0]) if host_header else None
    if host is None or host[1:] != origin[1:]:
        return (
            f"{_NOT_LOCAL}This page was opened as {shown} ({header} header), but the request reached the "
            f"server as {_shown(host_header) if host_header else '(no Host header)'}: it came through a proxy."
        )
    return None


def exposure_problem(address: str | None, signed_in_mode: bool, host_header: str | None = None,
                     forwarded: bool = False, *, origin: str | None = None, referer: str | None = None,
                     peer: str | None = None, origin_required: bool = False) -> str | None:
    """Why the app must not render in local mode, or None.

    Local mode (no sign-in) is only allowed on a loopback address, for a request that
    names a local host, did not come through a proxy, comes from a loopback ``peer``
    address, and whose browser ``origin`` / ``referer`` (when sent) is that same local
    address (:func:`origin_problem`). ``origin_required``: a real browser request without
    an Origin header (a browser always sends one on the websocket; a proxy may strip it)
    is refused too.
    """
    if signed_in_mode:
        return None
    shown = address or "(every interface)"
    if not is_loopback(address):
        return (
            f"This dashboard has no sign-in configured, so it may only listen on this computer "
            f"(127.0.0.1), but it was started with server.address = {shown}. Start it with "
            f"`scripts/run-dashboard.sh` (which binds to 127.0.0.1), or configure sign-in: add an "
            f"[auth] section to .streamlit/secrets.toml (OpenID Connect; see {DOCS}) and add users with "
            f"`python -m analytics users add`."
        )
    if forwarded or (host_header and not is_loopback(host_of(host_header))):
        return (
            "This dashboard has no sign-in configured, so it only answers requests made on this "
            "computer (http://127.0.0.1 or http://localhost); this request came through a proxy or "
            f"another host name. To serve it to other computers, configure sign-in ([auth] in "
            f".streamlit/secrets.toml; see {DOCS})."
        )
    configure = f" To serve it to other computers, configure sign-in ([auth] in .streamlit/secrets.toml; see {DOCS})."
    if peer and not is_loopback(peer):
        return f"{_NOT_LOCAL}This request came from {_shown(peer, 100)}, another computer.{configure}"
    if origin is None and origin_required:
        return f"{_NOT_LOCAL}This request carried no Origin header (a proxy may have removed it).{configure}"
    for header, value in (("Origin", origin), ("Referer", referer)):
        problem = origin_problem(header, value, host_header)
        if problem:
            return problem + configure
    return None


# --------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------


def _gate_page() -> None:
    """The only page a visitor stopped at the gate can reach (it renders nothing itself)."""


def _hide_navigation() -> None:
    """Register a navigation holding only the gate screen, hidden.

    Without it, a run that stops before ``st.navigation`` makes Streamlit fall back to its
    legacy multipage mode: the sidebar lists every file in pages/ and a URL such as /glossary
    runs that file directly, before anyone signed in. The last ``st.navigation`` call of a
    run wins, so this is safe even when the gate is reached from inside a page.
    """
    st.navigation([st.Page(_gate_page, title="Between Sessions", default=True)], position="hidden")


def _refuse(title: str, message: str, *, gate: bool = True) -> None:
    if gate:
        _hide_navigation()
    st.title(title)
    st.error(message, icon=":material/block:")
    st.stop()


@dataclass(frozen=True)
class RequestFacts:
    """What the server knows about the request behind this session: the headers of the
    websocket upgrade (``st.context.headers``; every script run of a session comes through
    that websocket) and the peer address of its TCP connection (``st.context.ip_address``,
    None for 127.0.0.1 and ::1). ``has_request`` is False without a browser request (AppTest,
    bare mode): then there is nothing to check."""

    host: str | None = None
    forwarded: bool = False
    origin: str | None = None
    referer: str | None = None
    peer: str | None = None
    has_request: bool = False


def _request_facts() -> RequestFacts:
    try:
        headers = st.context.headers
        if not len(headers):
            return RequestFacts()
        forwarded = any(headers.get(h) for h in ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                                                 "Forwarded", "X-Real-Ip"))
        return RequestFacts(host=headers.get("Host"), forwarded=forwarded, origin=headers.get("Origin"),
                            referer=headers.get("Referer"), peer=st.context.ip_address, has_request=True)
    except Exception:  # noqa: BLE001 - no request context (bare mode): nothing to check
        return RequestFacts()


def _check_exposure(signed_in_mode: bool) -> None:
    facts = _request_facts()
    # st.get_option("server.address"), read through the config module so tests can patch it
    address = st_config.get_option("server.address")
    problem = exposure_problem(address, signed_in_mode, facts.host, facts.forwarded, origin=facts.origin,
                               referer=facts.referer, peer=facts.peer, origin_required=facts.has_request)
    if problem:
        if is_loopback(address):  # refused for this request (not for the server's own address): log it
            log_denied(page="(local mode)", detail=f"local mode refused a request: {problem.split(' To serve it')[0]}")
        _refuse("Sign-in is not configured", problem)


def _sign_in_screen(section: Mapping[str, Any]) -> None:
    st.session_state.pop(VIEWER_KEY, None)
    _hide_navigation()
    st.title("Between Sessions")
    st.write("Sign in with your clinic account to see the dashboard.")
    providers = login_providers(section)
    for name in providers:
        label = "Sign in" if name == "default" else f"Sign in with {name.replace('-', ' ').title()}"
        st.button(label, type="primary", on_click=st.login, args=(name,), key=f"_bs_sign_in_{name}",
                  icon=":material/login:")
    st.caption("Every page you open and every export you make is recorded in the access log.")
    st.stop()


def _no_access(email: str | None, reason: str) -> None:
    st.session_state.pop(VIEWER_KEY, None)
    if st.session_state.get(_DENIED_LOGGED) != email:
        log_event("denied", page="(sign-in)", email=email, role=None, detail=reason)
        st.session_state[_DENIED_LOGGED] = email
    _hide_navigation()
    st.title("No access")
    who = f" ({email})" if email else ""
    if reason == "no role for this address":
        message = (f"Your account{who} has no role in this dashboard. Ask an administrator to add you "
                   "(`python -m analytics users add` or the Users page).")
    else:
        message = f"Your account{who} cannot sign in here: {reason}. Ask your administrator."
    st.error(message, icon=":material/block:")
    sign_out_button(key="_bs_sign_out_denied")
    st.stop()


def _sign_out(email: str | None, role: str | None) -> None:
    log_event("logout", email=email, role=role)
    for key in (VIEWER_KEY, _LOGIN_LOGGED, _DENIED_LOGGED):
        st.session_state.pop(key, None)
    st.logout()


def sign_out_button(viewer: Viewer | None = None, *, key: str = "_bs_sign_out") -> None:
    """The sign-out button (signed-in mode only)."""
    email = viewer.email if viewer else _user_email()
    role = viewer.role if viewer else None
    st.button("Sign out", key=key, on_click=_sign_out, args=(email, role), icon=":material/logout:")


def _user_email() -> str | None:
    try:
        return normalise_email(st.user.get("email"))
    except ValueError:
        return None


def resolve_viewer() -> Viewer:
    """The current Viewer, or stop the script with the right screen (see the module doc)."""
    try:
        section = auth_section()
    except RuntimeError as exc:
        _refuse("Sign-in configuration error", f"{exc}. See {DOCS}.")
        raise  # unreachable: st.stop() raised
    if section is None:
        _check_exposure(signed_in_mode=False)
        viewer = Viewer.local()
        st.session_state[VIEWER_KEY] = viewer
        return viewer
    problems = auth_problems(section)
    if problems:
        _refuse("Sign-in configuration error",
                f"The [auth] section of .streamlit/secrets.toml is incomplete: missing {'; '.join(problems)}. See {DOCS}.")
    if not st.user.get("is_logged_in"):
        _sign_in_screen(section)
    email = _user_email()
    if email is None:
        _no_access(None, "the sign-in gave no valid e-mail address")
    verified = st.user.get("email_verified")
    # OIDC says the claim is a boolean; a few providers send the string "true". A provider
    # that never sends it needs require_email_verified = false (an explicit false is refused).
    if verified is not True and verified != "true" and (verified is not None or active_settings().require_email_verified):
        _no_access(email, "the identity provider did not confirm that the e-mail address is verified "
                          f"(email_verified is {'missing' if verified is None else repr(verified)})")
    viewer = run(viewer_for_email, email)
    if viewer is None:
        _no_access(email, "no role for this address")
    st.session_state[VIEWER_KEY] = viewer
    if st.session_state.get(_LOGIN_LOGGED) != email:
        log_event("login", page="(sign-in)", email=viewer.email, role=viewer.role)
        st.session_state[_LOGIN_LOGGED] = email
    return viewer


def refuse_role(page: str, requires: str, viewer: Viewer) -> None:
    """Stop the script with "no access" (logged) unless ``viewer`` meets ``requires``:
    "admin" (the admin role; local mode included) or "identifiers" (a role that may see
    individual clients: aggregates-only roles such as qi are refused)."""
    if requires == "admin":
        if viewer.role != "admin":
            log_denied(page=page, detail="page requires role admin")
            _refuse(page, "No access: this page is not available for your role.", gate=False)
    elif requires == "identifiers":
        if not viewer.can_see_identifiers:
            log_denied(page=page, detail="client-level page; role sees aggregates only")
            _refuse(page, "No access: this page shows individual clients; your role sees de-identified "
                          "aggregates only.", gate=False)
    else:
        raise ValueError(f"unknown page requirement {requires!r}")


def account_sidebar(viewer: Viewer) -> None:
    """Who is signed in, and the sign-out button (ui.page renders it once per page)."""
    with st.sidebar:
        if viewer.local_mode:
            st.caption(":material/lock: Local single-user mode: only this computer can open this dashboard.")
            return
        scope = viewer.role
        if viewer.role == "supervisor":
            scope += f" · {', '.join(viewer.clinics) or 'no clinic'}"
        elif viewer.role == "therapist":
            scope += f" · {viewer.therapist_id}"
        st.caption(f"Signed in as **{viewer.email}** ({md(scope)})")
        sign_out_button(viewer)
