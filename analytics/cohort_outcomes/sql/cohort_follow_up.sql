-- Cohort outcomes, follow-up: one row per discharged client with a score on $measure
-- (docs/metrics.md, "Cohort outcomes" > "Follow-up"). follow_up_score is the client's latest
-- score from 1 to 12 calendar months after discharge_date (NULL when there is none);
-- follow_up_days counts days from discharge to that score. Scores are totals in points.
-- First and last (end-of-treatment) scores come from analytics.metrics.client_outcomes.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
measure_scores AS (
    SELECT
        s.client_id,
        cohort.discharge_date,
        s.administered_date,
        s.total_score,
        s.administered_date >= cohort.discharge_date + INTERVAL 1 MONTH
            AND s.administered_date <= cohort.discharge_date + INTERVAL 12 MONTH AS in_window
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure = $measure AND cohort.discharge_date IS NOT NULL
)
SELECT
    client_id,
    any_value(discharge_date) AS discharge_date,
    arg_max(total_score, administered_date) FILTER (WHERE in_window) AS follow_up_score,
    max(administered_date) FILTER (WHERE in_window) AS follow_up_date,
    (max(administered_date) FILTER (WHERE in_window) - any_value(discharge_date))::BIGINT AS follow_up_days
FROM measure_scores
GROUP BY client_id
ORDER BY client_id
