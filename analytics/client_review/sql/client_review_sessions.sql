-- Sessions of one client in date order. week = whole weeks since intake_date
-- (week 0 = the 7 days starting on the intake date); upcoming = after $as_of.
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
),
client AS (
    SELECT client_id, intake_date FROM cohort WHERE client_id = $client_id::VARCHAR
)
SELECT
    s.session_date,
    s.session_number,
    s.attended IS TRUE AS attended,
    floor(date_diff('day', c.intake_date, s.session_date) / 7)::BIGINT AS week,
    s.session_date > $as_of::DATE AS upcoming
FROM sessions AS s
JOIN client AS c USING (client_id)
WHERE s.client_id = $client_id::VARCHAR
ORDER BY s.session_date
