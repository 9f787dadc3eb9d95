-- The programme yardstick for one client's homework: the median over the programme's clients
-- (those the viewer may see; $programs holds the one programme) of each client's quantity and
-- quality. A client's quantity (quality) = mean of their assignments' fractions, 0-1: the
-- same definition as client_homework.sql. Clients without a reviewed (rated) assignment are
-- left out of that median.
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
),
client_values AS (
    SELECT client_id, avg(quantity_fraction) AS quantity, avg(quality_fraction) AS quality
    FROM assignment_fractions
    GROUP BY client_id
)
SELECT
    (SELECT count(*) FROM cohort)::BIGINT AS clients,
    count(quantity)::BIGINT AS clients_with_quantity,
    median(quantity) AS median_quantity,
    count(quality)::BIGINT AS clients_with_quality,
    median(quality) AS median_quality
FROM client_values
