"""Sign-in in the browser suite: a mock OpenID Connect provider (oidc-provider-mock) and the
dashboard served with an [auth] secrets file pointing at it."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.support.browser import start_server
from tests.support.server import StreamlitServer, free_port


@contextlib.contextmanager
def mock_provider(users: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    """The base URL of a mock provider on a free local port that signs in ``users`` ((subject,
    claims) pairs); plain http on localhost is allowed while it runs."""
    from oidc_provider_mock import User, run_server_in_thread

    previous = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on localhost
    try:
        with run_server_in_thread(port=0, user_claims=[User(sub=sub, claims=claims) for sub, claims in users]) as server:
            yield f"http://localhost:{server.server_port}"
    finally:
        if previous is None:
            os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = previous


def verified(emails: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """Provider users whose addresses the provider has verified."""
    return [(email, {"email": email, "email_verified": True}) for email in emails]


def signed_in_server(db: Path, work: Path, provider_url: str, log_name: str, audit_path: Path) -> StreamlitServer:
    """The dashboard on ``db`` with sign-in through the provider (a fresh secrets file in ``work``)
    and its access log at ``audit_path``; not started yet."""
    port = free_port()
    secrets_file = work / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "between-sessions"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return start_server(
        db, log_name, port=port, args=("--secrets.files", str(secrets_file)), start_timeout=90,
        env={"BETWEEN_SESSIONS_AUDIT_DB": str(audit_path), "AUTHLIB_INSECURE_TRANSPORT": "1"},
    )
