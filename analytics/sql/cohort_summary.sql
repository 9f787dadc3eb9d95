-- The cohort summary (`python -m analytics summary`, analytics.summary), one row:
--   clients: clients in the cohort;
--   homework: over the treatment window the assignments set, reviewed, and set after discharge
--     (follow-up, not counted); the mean over clients of each client's reviewed share, quantity
--     and quality (0-1; each client counts once, clients without a value are left out). Per client:
--     macro client_homework_rows, the one definition behind analytics.metrics.client_homework;
--   measures: per measure, each client's first/last score (macro client_measure_score_rows)
--     classified by classified_outcomes ($measure_definitions from Settings), joined to the
--     client's quantity and quality, counted by measure_outcome_counts: the same definitions the
--     pages run on the rows they hold (analytics.metrics.measure_summary).
WITH homework AS (
    SELECT * FROM client_homework_rows($cohort, $homework_types::VARCHAR[],
                                       unreviewed_as_not_done := $unreviewed_as_not_done::BOOLEAN)
),
outcome_scores AS (
    SELECT * FROM client_measure_score_rows($cohort, $baseline_days::INTEGER, $measures::VARCHAR[], NULL::VARCHAR)
),
classified AS (
    SELECT * FROM classified_outcomes(outcome_scores, $measure_definitions)
),
outcome_rows AS (
    SELECT c.*, h.quantity, h.quality
    FROM classified AS c
    LEFT JOIN homework AS h USING (client_id)
),
measure_counts AS (
    SELECT * FROM measure_outcome_counts(outcome_rows)
),
homework_totals AS (
    SELECT
        coalesce(sum(assignments), 0)::BIGINT AS assignments,
        coalesce(sum(reviewed_assignments), 0)::BIGINT AS reviewed_assignments,
        avg(reviewed_share ORDER BY client_id) AS reviewed_share,
        coalesce(sum(follow_up_assignments), 0)::BIGINT AS follow_up_assignments,
        avg(quantity ORDER BY client_id) AS mean_quantity,
        avg(quality ORDER BY client_id) AS mean_quality
    FROM homework
)
SELECT
    (SELECT count(*) FROM cohort_clients($cohort))::BIGINT AS clients,
    (SELECT t FROM homework_totals AS t) AS homework,
    (SELECT list(m ORDER BY m.measure) FROM measure_counts AS m) AS measures
