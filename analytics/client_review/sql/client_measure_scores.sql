-- First and last score per client and measure (macro client_measure_score_rows, docs/metrics.md
-- "Symptom change"): first_date / first_score = the baseline, last_date / last_score = the latest
-- treatment score (totals in the measure's points); n_scores, n_follow_up, n_screening = counts.
-- $measures (optional list) narrows the measures; $client_id (optional) restricts the query to
-- one client (the client review page).
WITH measure_scores AS (
    SELECT * FROM client_measure_score_rows($cohort, $baseline_days::INTEGER, $measures::VARCHAR[],
                                            $client_id::VARCHAR)
)
SELECT *
FROM measure_scores
ORDER BY client_id, measure
