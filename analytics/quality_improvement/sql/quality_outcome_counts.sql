-- End-of-treatment outcome counts per measure of the cohort's clients discharged in a reporting period
-- ($period_start .. $period_end, both DATEs, inclusive), on the measure $measures (a list of one):
-- each discharged client's first and last score on it (macro client_measure_score_rows, as
-- analytics.metrics.client_outcomes reads them) classified by classified_outcomes
-- ($measure_definitions from Settings): finished = paired; reliable recovery = recovered and reliably
-- improved. Counted per discharge month, clinic, therapist, programme and overall by
-- discharge_outcome_counts (outcome_macros.sql): aggregates only, never one row per client.
WITH discharged AS (
    SELECT client_id, clinic, therapist_id, program, discharge_date
    FROM cohort_clients($cohort)
    WHERE discharge_date BETWEEN $period_start::DATE AND $period_end::DATE
),
outcome_scores AS (
    SELECT * FROM client_measure_score_rows($cohort, $baseline_days::INTEGER, $measures::VARCHAR[], NULL::VARCHAR)
),
classified AS (
    SELECT * FROM classified_outcomes(outcome_scores, $measure_definitions)
),
outcome_rows AS (
    SELECT
        d.*,
        coalesce(o.paired, false) AS finished,
        o.caseness_at_first,
        o.recovered,
        o.reliable_improvement,
        o.reliable_deterioration,
        o.recovered AND o.reliable_improvement AS reliable_recovery
    FROM discharged AS d
    LEFT JOIN classified AS o USING (client_id)
)
SELECT *
FROM discharge_outcome_counts(outcome_rows)
WHERE unit_type <> 'therapist' OR $therapist_units::BOOLEAN  -- per-therapist rows only when compared
ORDER BY unit_type, month, unit
