-- Quality improvement, monthly trends of activity and homework (docs/metrics.md, "Quality improvement").
-- One row per calendar month from $period_start to $period_end (both DATEs; $period_start is the
-- first day of a month, $period_end the last day of a month), months without data included with 0.
-- Sessions count by session_date; assignments by assigned_date (the homework-type filter applies).
-- Homework means are client-level: each client's mean of their assignments' fractions that month,
-- then the mean over clients (each client counts once), as in the cohort mean quantity.
-- Homework counts only in the client's treatment window (macro in_treatment_window, as
-- client_homework_rows); homework set after discharge is follow-up homework, counted apart
-- (follow_up_assignments, macro after_discharge). Quantity reads unreviewed work per
-- $unreviewed_as_not_done (macro counted_quantity); reviewed = has a quantity fraction.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
months AS (
    SELECT CAST(m AS DATE) AS month
    FROM range($period_start::DATE::TIMESTAMP, $period_end::DATE::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 MONTH) AS t(m)
),
session_rows AS (
    SELECT s.client_id, date_trunc('month', s.session_date)::DATE AS month, coalesce(s.attended, true) AS attended
    FROM sessions AS s
    JOIN cohort USING (client_id)
    WHERE s.session_date BETWEEN $period_start::DATE AND $period_end::DATE
),
assignment_rows AS (
    SELECT
        a.client_id,
        date_trunc('month', a.assigned_date)::DATE AS month,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        quality_fraction(a.quality_rating) AS quality_fraction,
        checklist_coverage(a.goal_linked, a.rationale_given, a.rehearsed_in_session,
                           a.practice_scheduled, a.obstacles_planned) AS coverage,
        in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date) AS in_window,
        after_discharge(a.assigned_date, cohort.discharge_date) AS follow_up
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE a.assigned_date BETWEEN $period_start::DATE AND $period_end::DATE
      AND ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
),
session_months AS (
    SELECT
        month,
        count(DISTINCT client_id) FILTER (WHERE attended)::BIGINT AS active_clients,  -- clients with an attended session
        count(*) FILTER (WHERE attended)::BIGINT AS sessions_attended,
        count(*) FILTER (WHERE NOT attended)::BIGINT AS sessions_missed
    FROM session_rows
    GROUP BY month
),
client_months AS (  -- one row per client and month with homework set in the treatment window
    SELECT
        month,
        client_id,
        count(*)::BIGINT AS assignments,
        count(quantity_fraction)::BIGINT AS reviewed,  -- reviewed = has a quantity fraction
        avg(counted_quantity(quantity_fraction, $unreviewed_as_not_done::BOOLEAN)) AS quantity,  -- 0-1, NULL when none counted
        avg(quality_fraction) AS quality,              -- 0-1, NULL when none rated
        avg(coverage) AS coverage                      -- 0-1
    FROM assignment_rows
    WHERE in_window
    GROUP BY month, client_id
),
follow_up_months AS (  -- homework set after discharge: not counted above
    SELECT month, count(*)::BIGINT AS follow_up_assignments
    FROM assignment_rows
    WHERE follow_up
    GROUP BY month
),
homework_months AS (
    SELECT
        month,
        sum(assignments)::BIGINT AS assignments,
        sum(reviewed)::BIGINT AS reviewed,
        count(*)::BIGINT AS clients_with_homework,
        count(quantity)::BIGINT AS clients_quantity,
        avg(quantity) AS mean_quantity,
        count(quality)::BIGINT AS clients_quality,
        avg(quality) AS mean_quality,
        avg(coverage) AS checklist_coverage
    FROM client_months
    GROUP BY month
)
SELECT
    months.month,                                                     -- first day of the month
    coalesce(sm.active_clients, 0)::BIGINT AS active_clients,
    coalesce(sm.sessions_attended, 0)::BIGINT AS sessions_attended,
    coalesce(sm.sessions_missed, 0)::BIGINT AS sessions_missed,
    coalesce(hm.assignments, 0)::BIGINT AS assignments,
    hm.assignments / nullif(sm.sessions_attended, 0) AS assignments_per_session,  -- ratio of counts
    coalesce(hm.reviewed, 0)::BIGINT AS reviewed,
    hm.reviewed / nullif(hm.assignments, 0) AS reviewed_share,                     -- 0-1
    coalesce(hm.clients_with_homework, 0)::BIGINT AS clients_with_homework,
    coalesce(hm.clients_quantity, 0)::BIGINT AS clients_quantity,
    hm.mean_quantity,                                                 -- 0-1
    coalesce(hm.clients_quality, 0)::BIGINT AS clients_quality,
    hm.mean_quality,                                                  -- 0-1
    hm.checklist_coverage,                                            -- 0-1, over clients_with_homework
    coalesce(fm.follow_up_assignments, 0)::BIGINT AS follow_up_assignments  -- set after discharge, not counted
FROM months
LEFT JOIN session_months AS sm USING (month)
LEFT JOIN homework_months AS hm USING (month)
LEFT JOIN follow_up_months AS fm USING (month)
ORDER BY months.month
