-- Homework summary of one client (Client review page), one row per (section, key):
--   client / all             the client's assignments in the treatment window (macro
--                            in_treatment_window: intake to discharge), as client_homework_rows
--   client / follow_up       assignments set after discharge (follow-up homework, shown apart)
--   period / recent          assignments in the treatment window of the $recent_weeks latest weeks
--                            since intake (4 on the page), ending with the reference week = the
--                            week of the client's latest assignment in the treatment window or
--                            session up to $as_of (and up to discharge), whichever is later
--   period / before          assignments in the treatment window of the weeks before those
--   type / <homework_type>   assignments in the treatment window of each homework type
--                            ("completion by type")
--   checklist / <item>       design-checklist items: missing = assignments where the item is
--                            not met or not recorded (NULL counts as not met, as in macros.sql)
-- quantity / quality = mean of the assignment fractions (0-1; NULL when none reviewed / rated);
-- quantity reads unreviewed work per $unreviewed_as_not_done (macro counted_quantity, as
-- client_homework_rows: NULL = left out, true = counted as not done).
-- Weeks are whole weeks since intake_date (week 0 = the 7 days starting on the intake date).
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
      AND (c.discharge_date IS NULL OR s.session_date <= c.discharge_date)
),
window_assignments AS (  -- the treatment window: what counts toward compliance
    SELECT * FROM client_assignments WHERE in_window
),
reference AS (
    SELECT greatest((SELECT max(week) FROM window_assignments), (SELECT max(week) FROM client_session_weeks))
        AS ref_week
),
periods AS (
    SELECT 'recent' AS key, 1 AS sort_order, r.ref_week - ($recent_weeks::INTEGER - 1) AS first_week,
           r.ref_week AS last_week
    FROM reference AS r
    UNION ALL
    SELECT 'before', 2, least(0, (SELECT min(week) FROM window_assignments)), r.ref_week - $recent_weeks::INTEGER
    FROM reference AS r
),
checklist AS (
    SELECT 'goal_linked' AS item, 1 AS sort_order, goal_linked AS met FROM client_assignments
    UNION ALL SELECT 'rationale_given', 2, rationale_given FROM client_assignments
    UNION ALL SELECT 'rehearsed_in_session', 3, rehearsed_in_session FROM client_assignments
    UNION ALL SELECT 'practice_scheduled', 4, practice_scheduled FROM client_assignments
    UNION ALL SELECT 'obstacles_planned', 5, obstacles_planned FROM client_assignments
)
SELECT
    'client' AS section, 'all' AS key, 0 AS sort_order,
    count(*)::BIGINT AS assignments,
    count(quantity_fraction)::BIGINT AS reviewed,
    count(quality_fraction)::BIGINT AS quality_rated,
    avg(counted_quantity) AS quantity,
    avg(quality_fraction) AS quality,
    NULL::BIGINT AS missing,
    min(week) AS first_week,
    max(week) AS last_week
FROM client_assignments
WHERE in_window
UNION ALL
SELECT
    'client', 'follow_up', 1,
    count(*)::BIGINT,
    count(quantity_fraction)::BIGINT,
    count(quality_fraction)::BIGINT,
    avg(counted_quantity),
    avg(quality_fraction),
    NULL::BIGINT,
    min(week),
    max(week)
FROM client_assignments
WHERE follow_up
UNION ALL
SELECT
    'period', p.key, p.sort_order,
    count(a.week)::BIGINT,
    count(a.quantity_fraction)::BIGINT,
    count(a.quality_fraction)::BIGINT,
    avg(a.counted_quantity),
    avg(a.quality_fraction),
    NULL::BIGINT,
    p.first_week,
    p.last_week
FROM periods AS p
LEFT JOIN window_assignments AS a ON a.week BETWEEN p.first_week AND p.last_week
WHERE p.first_week <= p.last_week
GROUP BY p.key, p.sort_order, p.first_week, p.last_week
UNION ALL
SELECT
    'type', homework_type, 0,
    count(*)::BIGINT,
    count(quantity_fraction)::BIGINT,
    count(quality_fraction)::BIGINT,
    avg(counted_quantity),
    avg(quality_fraction),
    NULL::BIGINT,
    min(week),
    max(week)
FROM window_assignments
GROUP BY homework_type
UNION ALL
SELECT
    'checklist', item, sort_order,
    count(*)::BIGINT,
    NULL::BIGINT,
    NULL::BIGINT,
    NULL::DOUBLE,
    NULL::DOUBLE,
    count(*) FILTER (WHERE met IS NOT TRUE)::BIGINT,
    NULL::BIGINT,
    NULL::BIGINT
FROM checklist
GROUP BY item, sort_order
ORDER BY section, sort_order, key
