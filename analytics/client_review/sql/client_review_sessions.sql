-- Sessions of one client in date order. week = whole weeks since intake_date
-- (week 0 = the 7 days starting on the intake date); upcoming = after $as_of.
WITH client AS (
    SELECT client_id, intake_date
    FROM scoped_client($cohort, $client_id::VARCHAR)
)
SELECT
    s.session_date,
    s.session_number,
    s.attended IS TRUE AS attended,
    weeks_since_intake(c.intake_date, s.session_date) AS week,
    s.session_date > $as_of::DATE AS upcoming
FROM sessions AS s
JOIN client AS c USING (client_id)
WHERE s.client_id = $client_id::VARCHAR
ORDER BY s.session_date
