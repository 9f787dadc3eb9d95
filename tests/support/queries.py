"""What a test's code asks of the database: the names of the queries run from a point on."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.db import ClinicDatabase


def queries_run(monkeypatch: pytest.MonkeyPatch, method: str = "execute_sql") -> list[str]:
    """The names of the queries ``ClinicDatabase.<method>`` runs from now on, in order: the query
    name for ``query`` and ``rows``, the statement's label for ``execute_sql`` (every query method
    ends there, so it sees them all, stored reads included)."""
    seen: list[str] = []
    original = getattr(ClinicDatabase, method)

    def recording(db: ClinicDatabase, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("label", "query") if method == "execute_sql" else args[0])
        return original(db, *args, **kwargs)

    monkeypatch.setattr(ClinicDatabase, method, recording)
    return seen
