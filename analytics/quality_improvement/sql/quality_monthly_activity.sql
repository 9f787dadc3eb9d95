-- Quality improvement, monthly trends of activity and homework (docs/metrics.md, "Quality improvement").
-- One row per calendar month from $period_start to $period_end (both DATEs; $period_start is the
-- first day of a month, $period_end the last day of a month), months without data included with 0.
-- Sessions count by session_date; assignments by assigned_date (the homework-type filter applies).
-- Homework means are client-level: each client's mean of their assignments' fractions that month,
-- then the mean over clients (each client counts once), as in the cohort mean quantity.
-- Homework counts only in the client's treatment window; homework set after discharge is
-- follow-up homework, counted apart (follow_up_assignments). Quantity reads unreviewed work per
-- $unreviewed_as_not_done (macro mean_counted_quantity); reviewed = has a quantity fraction.
-- The client-months come from client_month_rows (stored at import for whole months, macros.sql).
WITH client_months AS (
    SELECT *
    FROM client_month_rows($cohort, $homework_types::VARCHAR[], $period_start::DATE, $period_end::DATE)
),
months AS (  -- the first day of each month of the period (generate_series: a portable spelling)
    SELECT CAST(m AS DATE) AS month
    FROM (SELECT unnest(generate_series($period_start::DATE, $period_end::DATE, INTERVAL 1 MONTH)) AS m) AS t
),
client_means AS (  -- each client's means over the month's homework (0-1; NULL when none counted / rated)
    SELECT
        *,
        mean_counted_quantity(quantity_sum, reviewed_assignments, assignments,
                              $unreviewed_as_not_done::BOOLEAN) AS quantity,
        quality_sum / nullif(rated_assignments, 0) AS quality,
        coverage_sum / nullif(assignments, 0) AS coverage
    FROM client_months
),
month_totals AS (
    SELECT
        month,
        count(*) FILTER (WHERE sessions_attended > 0)::BIGINT AS active_clients,  -- clients with an attended session
        sum(sessions_attended)::BIGINT AS sessions_attended,
        sum(sessions_missed)::BIGINT AS sessions_missed,
        sum(assignments)::BIGINT AS assignments,                   -- in the treatment window
        sum(reviewed_assignments)::BIGINT AS reviewed,
        count(*) FILTER (WHERE assignments > 0)::BIGINT AS clients_with_homework,
        count(quantity)::BIGINT AS clients_quantity,
        avg(quantity) AS mean_quantity,
        count(quality)::BIGINT AS clients_quality,
        avg(quality) AS mean_quality,
        avg(coverage) AS checklist_coverage,                       -- over clients_with_homework
        sum(follow_up_assignments)::BIGINT AS follow_up_assignments
    FROM client_means
    GROUP BY month
)
SELECT
    months.month,                                                     -- first day of the month
    coalesce(t.active_clients, 0)::BIGINT AS active_clients,
    coalesce(t.sessions_attended, 0)::BIGINT AS sessions_attended,
    coalesce(t.sessions_missed, 0)::BIGINT AS sessions_missed,
    coalesce(t.assignments, 0)::BIGINT AS assignments,
    t.assignments / nullif(t.sessions_attended, 0) AS assignments_per_session,  -- ratio of counts
    coalesce(t.reviewed, 0)::BIGINT AS reviewed,
    t.reviewed / nullif(t.assignments, 0) AS reviewed_share,                      -- 0-1
    coalesce(t.clients_with_homework, 0)::BIGINT AS clients_with_homework,
    coalesce(t.clients_quantity, 0)::BIGINT AS clients_quantity,
    t.mean_quantity,                                                  -- 0-1
    coalesce(t.clients_quality, 0)::BIGINT AS clients_quality,
    t.mean_quality,                                                   -- 0-1
    t.checklist_coverage,                                             -- 0-1, over clients_with_homework
    coalesce(t.follow_up_assignments, 0)::BIGINT AS follow_up_assignments  -- set after discharge, not counted
FROM months
LEFT JOIN month_totals AS t USING (month)
ORDER BY months.month
