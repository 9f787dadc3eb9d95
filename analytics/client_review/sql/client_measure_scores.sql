-- First and last score per client and measure (docs/metrics.md, "Symptom change" and "Baseline
-- and treatment window", macro score_period): first = the baseline, the earliest score from the
-- baseline window on ($baseline_days days before intake; screening scores before it never count);
-- last = latest on or before discharge_date (latest overall while in treatment); scores after
-- discharge are follow-up. Scores are totals in the measure's points. Clients whose scores on a
-- measure are all screening scores have no row for it.
-- $client_id (optional) restricts the query to one client (the client review page).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
cohort_scores AS (
    SELECT
        s.client_id,
        s.measure,
        s.administered_date,
        s.total_score,
        score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER) AS period
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE ($measures::VARCHAR[] IS NULL OR list_contains($measures::VARCHAR[], s.measure))
      AND ($client_id::VARCHAR IS NULL OR s.client_id = $client_id::VARCHAR)
)
SELECT
    client_id,
    measure,
    count(*) FILTER (WHERE period <> 'screening')::BIGINT AS n_scores,
    min(administered_date) FILTER (WHERE period <> 'screening') AS first_date,
    arg_min(total_score, administered_date) FILTER (WHERE period <> 'screening') AS first_score,
    max(administered_date) FILTER (WHERE period = 'treatment') AS last_date,
    arg_max(total_score, administered_date) FILTER (WHERE period = 'treatment') AS last_score,
    count(*) FILTER (WHERE period = 'follow-up')::BIGINT AS n_follow_up,
    count(*) FILTER (WHERE period = 'screening')::BIGINT AS n_screening
FROM cohort_scores
GROUP BY client_id, measure
HAVING count(*) FILTER (WHERE period <> 'screening') > 0
ORDER BY client_id, measure
