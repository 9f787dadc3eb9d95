-- The cohort summary stored at import (analytics/stored.py, store_summaries): the row
-- cohort_summary.sql gave for the scope that is exactly $cohort's (macro stored_scope: the whole
-- network or one clinic, no filter), with summary_key, the key of what it was computed under (the
-- query's and the macros' text, its other parameters). analytics.summary uses the row only when the
-- key is the one of its own request, and runs cohort_summary.sql otherwise.
SELECT s.* EXCLUDE (summary_scope)
FROM stored_cohort_summary AS s
WHERE s.summary_scope = stored_scope($cohort)
