-- Weekly homework of one client, by week since intake (week 0 = the 7 days starting on the
-- intake date; week n starts on intake_date + 7n). An assignment counts in the week of its
-- assigned_date. quantity / quality = mean of that week's assignment fractions (0-1,
-- macros.sql; NULL when none reviewed / rated) over the assignments in the treatment window
-- (macro in_treatment_window, as client_homework_rows); quantity reads unreviewed work per
-- $unreviewed_as_not_done (macro counted_quantity). Homework set after discharge is follow-up
-- homework: not in assignments / reviewed / quantity / quality, counted apart in
-- follow_up_assignments (macro after_discharge). Every week from intake (or the first
-- assignment, if earlier) to the client's latest assignment or session up to $as_of is
-- listed, so weeks without homework show 0 assignments. No rows when there is no assignment.
WITH client AS (
    SELECT client_id, intake_date, discharge_date
    FROM scoped_client($cohort, $client_id::VARCHAR)
),
client_assignments AS (  -- the client's assignments with their week and fractions (macros.sql)
    SELECT * FROM scoped_client_assignments($cohort, $client_id::VARCHAR,
                                            $unreviewed_as_not_done::BOOLEAN)
),
client_session_weeks AS (
    SELECT weeks_since_intake(c.intake_date, s.session_date) AS week
    FROM sessions AS s
    JOIN client AS c USING (client_id)
    WHERE s.client_id = $client_id::VARCHAR AND s.session_date <= $as_of::DATE
),
week_range AS (
    SELECT
        least(0, min(week)) AS first_week,
        greatest(max(week), coalesce((SELECT max(week) FROM client_session_weeks), max(week))) AS last_week
    FROM client_assignments
    HAVING count(*) > 0
),
weeks AS (
    SELECT unnest(generate_series(first_week, last_week)) AS week FROM week_range
),
per_week AS (
    SELECT
        week,
        count(*) FILTER (WHERE in_window)::BIGINT AS assignments,
        count(quantity_fraction) FILTER (WHERE in_window)::BIGINT AS reviewed,
        count(quality_fraction) FILTER (WHERE in_window)::BIGINT AS quality_rated,
        avg(counted_quantity) FILTER (WHERE in_window) AS quantity,
        avg(quality_fraction) FILTER (WHERE in_window) AS quality,
        count(*) FILTER (WHERE follow_up)::BIGINT AS follow_up_assignments
    FROM client_assignments
    GROUP BY week
)
SELECT
    w.week,
    (SELECT intake_date FROM client) + (7 * w.week)::INTEGER AS week_start,
    coalesce(p.assignments, 0)::BIGINT AS assignments,
    coalesce(p.reviewed, 0)::BIGINT AS reviewed,
    coalesce(p.quality_rated, 0)::BIGINT AS quality_rated,
    p.quantity,
    p.quality,
    coalesce(p.follow_up_assignments, 0)::BIGINT AS follow_up_assignments  -- set after discharge, not counted
FROM weeks AS w
LEFT JOIN per_week AS p USING (week)
ORDER BY w.week
