-- Data freshness, for the Data page: the latest date of each kind of record among the clients
-- the viewer may see (cohort filters are not applied). One row per table: its label, the
-- latest date (DATE, NULL when the table holds no row for these clients) and the rows counted.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
latest AS (
    SELECT 1 AS position, 'Sessions' AS records, max(s.session_date) AS latest_date, count(*) AS n_rows
    FROM sessions AS s JOIN cohort USING (client_id)
    UNION ALL
    SELECT 2, 'Symptom scores', max(sc.administered_date), count(*)
    FROM scores AS sc JOIN cohort USING (client_id)
    UNION ALL
    SELECT 3, 'Homework set', max(a.assigned_date), count(*)
    FROM assignments AS a JOIN cohort USING (client_id)
    UNION ALL
    SELECT 4, 'Homework reviewed', max(a.reviewed_date), count(a.reviewed_date)
    FROM assignments AS a JOIN cohort USING (client_id)
    UNION ALL
    SELECT 5, 'Intakes', max(c.intake_date), count(*)
    FROM cohort AS c
)
SELECT records, latest_date, n_rows::BIGINT AS n_rows
FROM latest
ORDER BY position
