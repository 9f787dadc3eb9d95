-- Quality improvement, funnel inputs for homework: per clinic, therapist and programme (and
-- overall), the client-level mean quantity, reviewed share and design-checklist coverage of the
-- assignments set between $period_start and $period_end (DATEs; the homework-type filter applies)
-- in the client's treatment window (follow-up homework is not counted).
-- Quantity reads unreviewed work per $unreviewed_as_not_done (macro mean_counted_quantity).
-- A client's value is the mean of their assignments' fractions (0-1); a unit's value is the mean
-- over its clients (each client counts once); sd_* is the client-level sample SD (for the
-- funnel limits). unit_type is 'clinic', 'therapist', 'program' or 'all' (the overall row); the
-- therapists' rows only with $therapist_units (BOOLEAN; a national network has tens of thousands).
-- The client-months come from client_month_rows (stored at import for whole months, macros.sql).
WITH cohort AS (
    SELECT client_id, clinic, therapist_id, program FROM cohort_clients($cohort)
),
client_totals AS (  -- each client's sums over the period's months with homework
    SELECT
        client_id,
        sum(assignments)::BIGINT AS assignments,
        sum(reviewed_assignments)::BIGINT AS reviewed_assignments,
        sum(quantity_sum) AS quantity_sum,
        sum(coverage_sum) AS coverage_sum
    FROM client_month_rows($cohort, $homework_types::VARCHAR[], $period_start::DATE, $period_end::DATE)
    WHERE assignments > 0
    GROUP BY client_id
),
client_values AS (
    SELECT
        t.client_id,
        cohort.clinic,
        cohort.therapist_id,
        cohort.program,
        mean_counted_quantity(t.quantity_sum, t.reviewed_assignments, t.assignments,
                              $unreviewed_as_not_done::BOOLEAN) AS quantity,  -- 0-1, NULL when none counted
        t.reviewed_assignments / t.assignments AS reviewed_share,             -- 0-1: reviewed / set
        t.coverage_sum / t.assignments AS coverage                            -- 0-1
    FROM client_totals AS t
    JOIN cohort USING (client_id)
)
SELECT
    CASE
        WHEN GROUPING(clinic) = 0 THEN 'clinic'
        WHEN GROUPING(therapist_id) = 0 THEN 'therapist'
        WHEN GROUPING(program) = 0 THEN 'program'
        ELSE 'all'
    END AS unit_type,
    CASE
        WHEN GROUPING(clinic) = 0 THEN clinic
        WHEN GROUPING(therapist_id) = 0 THEN therapist_id
        WHEN GROUPING(program) = 0 THEN program
    END AS unit,                                            -- NULL: not recorded (or the overall row)
    count(*)::BIGINT AS clients_with_homework,              -- clients with an assignment in the period
    avg(coverage) AS mean_coverage,
    stddev_samp(coverage) AS sd_coverage,
    count(quantity)::BIGINT AS clients_quantity,            -- clients with a reviewed assignment
    avg(quantity) AS mean_quantity,
    stddev_samp(quantity) AS sd_quantity,
    avg(reviewed_share) AS mean_reviewed_share,             -- n = clients_with_homework
    stddev_samp(reviewed_share) AS sd_reviewed_share
FROM client_values
GROUP BY GROUPING SETS ((clinic), (therapist_id), (program), ())
HAVING GROUPING(therapist_id) = 1 OR $therapist_units::BOOLEAN  -- per-therapist rows only when compared
ORDER BY unit_type, unit
