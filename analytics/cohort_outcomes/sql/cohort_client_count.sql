-- How many clients a cohort has, as the viewer may see them (one row, one number).
WITH cohort AS (
    SELECT client_id FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                         $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                         $intake_from::DATE, $intake_to::DATE)
)
SELECT count(*)::BIGINT AS clients
FROM cohort
