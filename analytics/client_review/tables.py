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


# The client's CSV exports (analytics.client_review.model.scores_csv / assignments_csv).
SCORE_EXPORT_COLUMNS = (
    Column("client_id", "Client", "label"), Column("measure", "Measure", "text"),
    Column("administered_date", "Date", "date"), Column("total_score", "Score", "count"),
    Column("severity_band", "Severity band", "text"), Column("item_9", "Item 9 (self-harm thoughts)", "count"),
    Column("follow_up", "Follow-up (after discharge)", "yesno"), Column("week_since_intake", "Week since intake", "count"),
)
ASSIGNMENT_EXPORT_COLUMNS = (
    Column("client_id", "Client", "label"), Column("assignment_id", "Assignment", "text"),
    Column("assigned_date", "Set on", "date"), Column("reviewed_date", "Reviewed on (date)", "date"),
    Column("week_since_intake", "Week since intake", "count"), Column("homework_type", "Homework type", "text"),
    Column("goal_linked", "Linked to a goal", "yesno"), Column("rationale_given", "Rationale given", "yesno"),
    Column("rehearsed_in_session", "Rehearsed in session", "yesno"),
    Column("practice_scheduled", "Practice scheduled", "yesno"), Column("obstacles_planned", "Obstacles planned", "yesno"),
    Column("checklist_met", "Checklist items met", "count"), Column("planned_practices", "Practices planned", "count"),
    Column("completed_practices", "Practices completed", "count"),
    Column("quantity_rating", "Quantity rating (0-4)", "count"), Column("quality_rating", "Quality rating (0-4)", "count"),
    Column("quantity_fraction", "Quantity", "pct"), Column("quality_fraction", "Quality", "pct"),
    Column("reviewed", "Reviewed", "yesno"), Column("rated_by", "Rated by", "text"),
    Column("description", "Description", "text"),
)

__all__ = ["ASSIGNMENT_EXPORT_COLUMNS", "PAIR_COLUMNS", "SCORE_COLUMNS", "SCORE_EXPORT_COLUMNS", "SESSION_COLUMNS",
           "WEEKLY_COLUMNS"]
