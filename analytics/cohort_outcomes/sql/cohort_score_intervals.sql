-- Cohort outcomes, within-client analysis: one row per score interval of the cohort's clients on
-- $measure (macro score_interval_rows: two consecutive in-treatment scores at most $max_gap_days
-- days apart, the quantity of the homework set in between, change = next_score - score in points;
-- at most $max_clients clients, lowest md5 of client_id; docs/metrics.md, "Cohort outcomes" >
-- "Within-client analysis"). The page fits the model from the per-client moments of these rows
-- (cohort_score_interval_moments.sql); these rows are for checks and exports of single intervals.
WITH intervals AS (
    SELECT * FROM score_interval_rows($cohort, $measure::VARCHAR, $max_gap_days::INTEGER, $max_clients::BIGINT,
                                      $baseline_days::INTEGER, $unreviewed_as_not_done::BOOLEAN,
                                      $homework_types::VARCHAR[])
)
SELECT client_id, week, score, next_score, change, quantity, reviewed_assignments, clients_eligible
FROM intervals
ORDER BY client_id, score_date
