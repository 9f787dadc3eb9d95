-- Expected treatment response (docs/metrics.md, "Expected recovery curves"): every treatment
-- score of every client of the cohort on the configured $measures, in date order (ties by score).
-- Only 'treatment' scores count (macro score_period with $baseline_days: no screening score before
-- the baseline window, no follow-up score after discharge). days = days from intake_date to
-- administered_date (negative for a baseline-window score before intake); week = whole weeks since
-- intake (macro weeks_since_intake). total_score in the measure's points. discharge_date NULL = in
-- treatment. analytics.expected_response fits the curves on the discharged clients and reads the
-- course of the others against them. $open_on (DATE, NULL = every client): only the clients in
-- treatment on that date (macro open_on) and their scores up to it (the QI alerts).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT
    s.client_id,
    s.measure,
    cohort.intake_date,
    cohort.discharge_date,
    s.administered_date,
    date_diff('day', cohort.intake_date, s.administered_date)::BIGINT AS days,
    weeks_since_intake(cohort.intake_date, s.administered_date) AS week,
    s.total_score::DOUBLE AS total_score
FROM scores AS s
JOIN cohort USING (client_id)
WHERE list_contains($measures::VARCHAR[], s.measure)
  AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER)
      = 'treatment'
  AND ($client_id::VARCHAR IS NULL OR s.client_id = $client_id::VARCHAR)
  AND ($open_on::DATE IS NULL OR (open_on(cohort.intake_date, cohort.discharge_date, $open_on::DATE)
                                  AND s.administered_date <= $open_on::DATE))
ORDER BY s.client_id, s.measure, s.administered_date, s.total_score
