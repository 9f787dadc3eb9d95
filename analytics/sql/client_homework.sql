-- Homework per client of a cohort: counts and the client's quantity and quality
-- (mean of their assignments' fractions, 0-1; docs/metrics.md).
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
),
assignment_fractions AS (
    SELECT
        a.client_id,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        quality_fraction(a.quality_rating) AS quality_fraction
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE $homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type)
)
SELECT
    client_id,
    count(*)::BIGINT AS assignments,
    count(quantity_fraction)::BIGINT AS reviewed_assignments,  -- reviewed = has a quantity fraction
    avg(quantity_fraction) AS quantity,                         -- 0-1, NULL when none reviewed
    avg(quality_fraction) AS quality                            -- 0-1, NULL when none rated
FROM assignment_fractions
GROUP BY client_id
ORDER BY client_id
