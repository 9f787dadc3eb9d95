-- Quality improvement: the default report date ("as of"), so that nothing depends on the wall
-- clock. The latest session or score date among the clients the viewer may see (cohort filters
-- are deliberately not applied, so narrowing the cohort does not move the report date), and their
-- first intake. Computed now from the per-clinic rows of the table macro clinic_dates (macros.sql)
-- for a therapist's caseload or a database imported before they were stored; otherwise
-- stored_quality_as_of.sql aggregates the same rows stored at import.
WITH scoped_clinics AS (
    SELECT latest_session, latest_score, first_intake FROM clinic_dates($cohort)
)
SELECT
    greatest(max(latest_session), max(latest_score)) AS as_of,  -- DATE, NULL when no data
    min(first_intake) AS first_intake                           -- DATE, start of "all months"
FROM scoped_clinics
