-- Cohort outcomes, sudden gains (docs/metrics.md, "Sudden gains"): every score of the cohort's
-- clients on $measure, treatment and follow-up, in date order per client.
-- period: macro score_period with $baseline_days ('screening' before the baseline window,
-- 'treatment', 'follow-up' after discharge_date); week = whole weeks since intake (macro
-- weeks_since_intake). total_score in the measure's points; discharge_date NULL = in treatment.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT
    s.client_id,
    cohort.discharge_date,
    s.administered_date,
    s.total_score::DOUBLE AS total_score,
    score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER) AS period,
    weeks_since_intake(cohort.intake_date, s.administered_date) AS week
FROM scores AS s
JOIN cohort USING (client_id)
WHERE s.measure = $measure::VARCHAR
ORDER BY s.client_id, s.administered_date
