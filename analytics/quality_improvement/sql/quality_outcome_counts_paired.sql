-- End-of-treatment outcome counts of the NHS Talking Therapies paired definitions of the cohort's clients
-- discharged in a reporting period ($period_start .. $period_end, both DATEs, inclusive): each discharged
-- client's paired scores (macro client_paired_score_rows, as analytics.metrics.client_paired_outcomes reads
-- them) classified by classified_paired_outcomes ($depression / $anxiety: the paired measures' definitions
-- from Settings). Counted per discharge month, clinic, therapist, programme and overall by
-- discharge_outcome_counts (outcome_macros.sql): aggregates only, never one row per client.
WITH discharged AS (
    SELECT client_id, clinic, therapist_id, program, discharge_date
    FROM cohort_clients($cohort)
    WHERE discharge_date BETWEEN $period_start::DATE AND $period_end::DATE
),
paired_scores AS (
    SELECT * FROM client_paired_score_rows($cohort, $depression_measure::VARCHAR, $anxiety_measure::VARCHAR,
                                           $baseline_days::INTEGER, NULL::VARCHAR)
),
paired_outcomes AS (
    SELECT * FROM classified_paired_outcomes(paired_scores, $depression, $anxiety)
),
outcome_rows AS (
    SELECT
        d.*,
        coalesce(p.finished, false) AS finished,
        p.caseness_at_first,
        p.recovered,
        p.reliable_improvement,
        p.reliable_deterioration,
        p.reliable_recovery
    FROM discharged AS d
    LEFT JOIN paired_outcomes AS p USING (client_id)
)
SELECT *
FROM discharge_outcome_counts(outcome_rows)
WHERE unit_type <> 'therapist' OR $therapist_units::BOOLEAN  -- per-therapist rows only when compared
ORDER BY unit_type, month, unit
