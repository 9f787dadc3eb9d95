-- Homework per client of a cohort: counts and the client's quantity and quality
-- (mean of their assignments' fractions, 0-1; the macro client_homework_rows, docs/metrics.md).
WITH homework AS (
    SELECT * FROM client_homework_rows($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                       $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                       $intake_from::DATE, $intake_to::DATE, $homework_types::VARCHAR[])
)
SELECT
    client_id,
    assignments,
    reviewed_assignments,  -- reviewed = has a quantity fraction
    quantity,              -- 0-1, NULL when none reviewed
    quality                -- 0-1, NULL when none rated
FROM homework
ORDER BY client_id
