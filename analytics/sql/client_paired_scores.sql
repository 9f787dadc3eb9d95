-- NHS Talking Therapies paired scores, one row per client with a paired score (macro
-- client_paired_score_rows, docs/metrics.md "Paired outcomes (NHS Talking Therapies)"):
-- first_* / last_* = the earliest / latest paired depression and anxiety scores (points),
-- n_paired = paired dates, sessions / attended_sessions in the treatment window.
-- $client_id (optional) restricts it to one client.
WITH paired_scores AS (
    SELECT * FROM client_paired_score_rows($cohort, $depression_measure::VARCHAR, $anxiety_measure::VARCHAR,
                                           $baseline_days::INTEGER, $client_id::VARCHAR)
)
SELECT *
FROM paired_scores
ORDER BY client_id
