"""What is loaded: filter choices, data overview, import history and rejects."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from .db import ClinicDatabase
from .scope import Viewer, query_params


def filter_options(db: ClinicDatabase, viewer: Viewer) -> dict[str, list[str]]:
    """Values the viewer may pick per filter: clinic, therapist, program, concern, measure, homework_type."""
    rows = db.query("filter_options", query_params(viewer))
    options: dict[str, list[str]] = {k: [] for k in ("clinic", "therapist", "program", "concern", "measure", "homework_type")}
    for field, value in rows.itertuples(index=False):
        options[field].append(value)
    return options


def data_overview(db: ClinicDatabase, viewer: Viewer) -> dict[str, Any]:
    """Counts and date range of the clients the viewer may see, plus the last import."""
    row = db.query("data_overview", query_params(viewer)).iloc[0].to_dict()
    history = import_history(db, limit=1)
    row["last_import"] = history.iloc[0].to_dict() if len(history) else None
    return row


def import_history(db: ClinicDatabase, limit: int = 100) -> pd.DataFrame:
    """Import runs, newest first."""
    if "import_batches" not in db.tables:
        return pd.DataFrame()
    return db.query("import_history", {"limit": int(limit)})


def import_rejects(db: ClinicDatabase, batch_id: int) -> pd.DataFrame:
    """Rejected rows of one import run with file, line, column, value and rule."""
    if "import_rejects" not in db.tables:
        return pd.DataFrame()
    return db.query("import_rejects", {"batch_id": int(batch_id)})


def data_as_of(db: ClinicDatabase, viewer: Viewer) -> date | None:
    """The data's "as of" date: the latest session or score date among the clients the viewer
    may see (None when nothing is loaded). Pages count weeks and "recent" periods to this
    date, never to the wall clock, so a page shows the same numbers whenever it is opened."""
    value = db.query("quality_as_of", query_params(viewer)).iloc[0]["as_of"]
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()
