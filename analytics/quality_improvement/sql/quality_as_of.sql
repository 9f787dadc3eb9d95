-- Quality improvement: the default report date ("as of"), so that nothing depends on the wall
-- clock. The latest session or score date among the clients the viewer may see (cohort filters
-- are deliberately not applied, so narrowing the cohort does not move the report date).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
latest_session AS (
    SELECT max(s.session_date) AS latest FROM sessions AS s JOIN cohort USING (client_id)
),
latest_score AS (
    SELECT max(sc.administered_date) AS latest FROM scores AS sc JOIN cohort USING (client_id)
)
SELECT
    greatest(latest_session.latest, latest_score.latest) AS as_of,  -- DATE, NULL when no data
    (SELECT min(intake_date) FROM cohort) AS first_intake             -- DATE, start of "all months"
FROM latest_session, latest_score
