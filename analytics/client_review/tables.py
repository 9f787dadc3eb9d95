"""How the client review's tables of numbers show their columns (one vocabulary:
:mod:`analytics.publishing`): the chart's scores, weekly homework and sessions, and the score
intervals of the homework-change association. The page shows them with ``ui.tables.show_table``
and downloads them with :func:`analytics.publishing.table_csv`."""

from __future__ import annotations

from ..publishing import Column

SCORE_COLUMNS = (
    Column("measure", "Measure", "label"), Column("administered_date", "Date", "date"),
    Column("week", "Week", "count"), Column("total_score", "Score", "count"), Column("band", "Severity band", "text"),
    Column("item_9", "Item 9 (self-harm thoughts)", "count"), Column("period", "Period", "text"),
    Column("follow_up", "Follow-up", "yesno"),
)
WEEKLY_COLUMNS = (
    Column("week", "Week", "count"), Column("week_start", "Week starting", "date"),
    Column("assignments", "Set", "count"), Column("reviewed", "Reviewed", "count"),
    Column("quality_rated", "Quality rated", "count"), Column("quantity", "Quantity", "pct"),
    Column("quality", "Quality", "pct"), Column("follow_up_assignments", "Set after discharge", "count"),
)
SESSION_COLUMNS = (
    Column("session_date", "Date", "date"), Column("session_number", "Session", "count"),
    Column("week", "Week", "count"), Column("attended", "Attended", "yesno"), Column("upcoming", "Upcoming", "yesno"),
)
PAIR_COLUMNS = (
    Column("week", "Week", "count"), Column("week_start", "Week starting", "date"),
    Column("quantity", "Quantity", "pct"), Column("previous_date", "Score date", "date"),
    Column("previous_score", "Score", "count"), Column("next_date", "Next score date", "date"),
    Column("next_score", "Next score", "count"), Column("change", "Change (points)", "number", decimals=0),
)

__all__ = ["PAIR_COLUMNS", "SCORE_COLUMNS", "SESSION_COLUMNS", "WEEKLY_COLUMNS"]
