-- The NHS Talking Therapies counts of the cohort summary stored at import (analytics/stored.py,
-- store_summaries): the row cohort_summary_paired.sql gave for the scope that is exactly $cohort's
-- (macro stored_scope), with summary_key; read as stored_cohort_summary.sql is.
SELECT s.* EXCLUDE (summary_scope)
FROM stored_cohort_summary_paired AS s
WHERE s.summary_scope = stored_scope($cohort)
