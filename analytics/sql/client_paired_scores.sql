-- NHS Talking Therapies paired scores (docs/metrics.md, "Paired outcomes (NHS Talking Therapies)"):
-- one row per client of the cohort with at least one paired score, i.e. a date on which both
-- $depression_measure and $anxiety_measure were administered (two scores of one measure on one
-- day are averaged). Only treatment scores count (macro score_period with $baseline_days: no
-- screening score before the baseline window, no follow-up score after discharge).
-- first_* = the earliest paired score, last_* = the latest (totals in each measure's points);
-- n_paired = paired dates; sessions / attended_sessions = sessions on record from the baseline
-- window to discharge (all, and attended). $client_id (optional) restricts it to one client.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
day_scores AS (
    SELECT
        s.client_id,
        s.administered_date,
        avg(s.total_score) FILTER (WHERE s.measure = $depression_measure::VARCHAR) AS depression,
        avg(s.total_score) FILTER (WHERE s.measure = $anxiety_measure::VARCHAR) AS anxiety
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure IN ($depression_measure::VARCHAR, $anxiety_measure::VARCHAR)
      AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER)
          = 'treatment'
      AND ($client_id::VARCHAR IS NULL OR s.client_id = $client_id::VARCHAR)
    GROUP BY s.client_id, s.administered_date
),
paired AS (
    SELECT * FROM day_scores WHERE depression IS NOT NULL AND anxiety IS NOT NULL
),
treatment_sessions AS (
    SELECT
        se.client_id,
        count(*)::BIGINT AS sessions,
        count(*) FILTER (WHERE se.attended)::BIGINT AS attended_sessions
    FROM sessions AS se
    JOIN cohort USING (client_id)
    WHERE score_period(se.session_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER)
          = 'treatment'
      AND ($client_id::VARCHAR IS NULL OR se.client_id = $client_id::VARCHAR)
    GROUP BY se.client_id
)
SELECT
    p.client_id,
    any_value(cohort.discharge_date) AS discharge_date,
    count(*)::BIGINT AS n_paired,
    min(p.administered_date) AS first_date,
    arg_min(p.depression, p.administered_date) AS first_depression,
    arg_min(p.anxiety, p.administered_date) AS first_anxiety,
    max(p.administered_date) AS last_date,
    arg_max(p.depression, p.administered_date) AS last_depression,
    arg_max(p.anxiety, p.administered_date) AS last_anxiety,
    coalesce(any_value(ts.sessions), 0)::BIGINT AS sessions,
    coalesce(any_value(ts.attended_sessions), 0)::BIGINT AS attended_sessions
FROM paired AS p
JOIN cohort USING (client_id)
LEFT JOIN treatment_sessions AS ts USING (client_id)
GROUP BY p.client_id
ORDER BY p.client_id
