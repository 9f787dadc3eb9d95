-- First and last score per measure for ONE client: the same definition as
-- client_measure_scores.sql (docs/metrics.md, "Symptom change"), restricted to $client_id so
-- only that client's rows are read. first = earliest score; last = latest on or before
-- discharge_date (latest overall while in treatment); later scores are follow-up.
-- tests/test_client_review.py checks the two queries agree.
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
),
client AS (
    SELECT client_id, discharge_date FROM cohort WHERE client_id = $client_id::VARCHAR
),
client_scores AS (
    SELECT
        s.client_id,
        s.measure,
        s.administered_date,
        s.total_score,
        c.discharge_date IS NULL OR s.administered_date <= c.discharge_date AS in_treatment
    FROM scores AS s
    JOIN client AS c USING (client_id)
    WHERE s.client_id = $client_id::VARCHAR
)
SELECT
    client_id,
    measure,
    count(*)::BIGINT AS n_scores,
    min(administered_date) AS first_date,
    arg_min(total_score, administered_date) AS first_score,
    max(administered_date) FILTER (WHERE in_treatment) AS last_date,
    arg_max(total_score, administered_date) FILTER (WHERE in_treatment) AS last_score,
    count(*) FILTER (WHERE NOT in_treatment)::BIGINT AS n_follow_up
FROM client_scores
GROUP BY client_id, measure
ORDER BY client_id, measure
