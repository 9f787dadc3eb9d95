"""What the commands share: how an error is reported and how a database is opened for reading."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def error(message: object, status: int) -> int:
    """Print ``error: message`` to standard error and return the exit status to give."""
    print(f"error: {message}", file=sys.stderr)
    return status


def open_for_reading(path: str | Path) -> Any:
    """The database at ``path`` opened read-only, or None (said on standard error) when there is none."""
    from ..db import DatabaseMissing, open_database

    try:
        return open_database(path)
    except DatabaseMissing as exc:
        error(exc, 1)
        return None
