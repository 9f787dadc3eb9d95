-- Weekly homework of one client, by week since intake (week 0 = the 7 days starting on the
-- intake date; week n starts on intake_date + 7n). An assignment counts in the week of its
-- assigned_date. quantity / quality = mean of that week's assignment fractions (0-1,
-- macros.sql; NULL when none reviewed / rated). Every week from intake (or the first
-- assignment, if earlier) to the client's latest assignment or session up to $as_of is
-- listed, so weeks without homework show 0 assignments. No rows when there is no assignment.
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
),
client AS (
    SELECT client_id, intake_date FROM cohort WHERE client_id = $client_id::VARCHAR
),
client_assignments AS (
    SELECT
        floor(date_diff('day', c.intake_date, a.assigned_date) / 7)::BIGINT AS week,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        quality_fraction(a.quality_rating) AS quality_fraction
    FROM assignments AS a
    JOIN client AS c USING (client_id)
    WHERE a.client_id = $client_id::VARCHAR
),
client_session_weeks AS (
    SELECT floor(date_diff('day', c.intake_date, s.session_date) / 7)::BIGINT AS week
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
        count(*)::BIGINT AS assignments,
        count(quantity_fraction)::BIGINT AS reviewed,
        count(quality_fraction)::BIGINT AS quality_rated,
        avg(quantity_fraction) AS quantity,
        avg(quality_fraction) AS quality
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
    p.quality
FROM weeks AS w
LEFT JOIN per_week AS p USING (week)
ORDER BY w.week
