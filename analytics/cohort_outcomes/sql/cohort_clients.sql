-- The clients of a cohort, as the viewer may see them: one row per client.
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
)
SELECT client_id, clinic, therapist_id, program, primary_concern, intake_date, discharge_date
FROM cohort
ORDER BY client_id
