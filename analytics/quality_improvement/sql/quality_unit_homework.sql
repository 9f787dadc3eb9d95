-- Quality improvement, funnel inputs for homework: per clinic, therapist and programme (and
-- overall), the client-level mean quantity, reviewed share and design-checklist coverage of the
-- assignments set between $period_start and $period_end (DATEs; the homework-type filter applies)
-- in the client's treatment window (macro in_treatment_window; follow-up homework is not counted).
-- Quantity reads unreviewed work per $unreviewed_as_not_done (macro counted_quantity).
-- A client's value is the mean of their assignments' fractions (0-1); a unit's value is the mean
-- over its clients (each client counts once); sd_* is the client-level sample SD (for the
-- funnel limits). unit_type is 'clinic', 'therapist', 'program' or 'all' (the overall row).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
assignment_rows AS (
    SELECT
        a.client_id,
        cohort.clinic,
        cohort.therapist_id,
        cohort.program,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        checklist_coverage(a.goal_linked, a.rationale_given, a.rehearsed_in_session,
                           a.practice_scheduled, a.obstacles_planned) AS coverage
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE a.assigned_date BETWEEN $period_start::DATE AND $period_end::DATE
      AND in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
      AND ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
),
client_values AS (
    SELECT
        client_id,
        any_value(clinic) AS clinic,
        any_value(therapist_id) AS therapist_id,
        any_value(program) AS program,
        avg(counted_quantity(quantity_fraction, $unreviewed_as_not_done::BOOLEAN)) AS quantity,  -- 0-1, NULL when none reviewed
        count(quantity_fraction) / count(*) AS reviewed_share,  -- 0-1: reviewed / set
        avg(coverage) AS coverage            -- 0-1
    FROM assignment_rows
    GROUP BY client_id
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
ORDER BY unit_type, unit
