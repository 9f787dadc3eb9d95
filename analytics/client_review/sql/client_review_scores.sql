-- Every symptom score of one client, by measure and date. total_score in the measure's points;
-- item_9 is PHQ-9 item 9 (thoughts of self-harm, 0-3) where items were exported (NULL otherwise).
-- follow_up: administered after discharge_date; period: macro score_period ('screening' before
-- the baseline window of $baseline_days days before intake, 'treatment', 'follow-up'), the same
-- rule as client_measure_scores.sql.
-- week = whole weeks since intake_date (week 0 = the 7 days starting on the intake date).
WITH client AS (
    SELECT client_id, intake_date, discharge_date
    FROM scoped_client($cohort, $client_id::VARCHAR)
)
SELECT
    s.measure,
    s.administered_date,
    s.total_score,
    s.item_9,
    NOT (c.discharge_date IS NULL OR s.administered_date <= c.discharge_date) AS follow_up,
    score_period(s.administered_date, c.intake_date, c.discharge_date, $baseline_days::INTEGER) AS period,
    weeks_since_intake(c.intake_date, s.administered_date) AS week
FROM scores AS s
JOIN client AS c USING (client_id)
WHERE s.client_id = $client_id::VARCHAR
ORDER BY s.measure, s.administered_date
