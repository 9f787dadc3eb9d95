-- NHS Talking Therapies counts of the cohort summary (`python -m analytics summary`):
-- discharged clients' paired scores (macro client_paired_score_rows), classified by
-- classified_paired_outcomes ($depression / $anxiety: the paired measures' definitions from
-- Settings) and counted by paired_outcome_counts; the rates are analytics.rates.nhs_paired_rates
-- of these counts. The same macros classify the rows pages hold (analytics.metrics.paired_summary).
WITH paired_scores AS (
    SELECT * FROM client_paired_score_rows($cohort, $depression_measure::VARCHAR, $anxiety_measure::VARCHAR,
                                           $baseline_days::INTEGER, NULL::VARCHAR)
),
paired_outcomes AS (
    SELECT * FROM classified_paired_outcomes(paired_scores, $depression, $anxiety)
)
SELECT *
FROM paired_outcome_counts(paired_outcomes, true)
