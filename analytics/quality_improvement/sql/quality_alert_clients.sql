-- Quality improvement, alerts: the clients still in treatment on $as_of (DATE; intake on or
-- before it, no discharge or a discharge after it), one row per client and measure with the
-- first (baseline) score and the latest score on or before $as_of (totals in the measure's points;
-- screening scores before the baseline window, macro score_period with $baseline_days, never count), the
-- latest $risk_measure item 9 on or before $as_of (NULL when items were not exported), and the
-- client's homework quantity over the assignments set from $window_start to $as_of inside the
-- treatment window (macro in_treatment_window, as client_homework_rows): the mean of
-- counted_quantity(quantity_fraction, $unreviewed_as_not_done), 0-1; NULL when none counted
-- (none reviewed, in the default reading). Clients with no score on a
-- reported measure get one row with measure NULL. weeks_in_treatment = days since intake / 7.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
open_clients AS (
    SELECT client_id, clinic, therapist_id, program, intake_date, discharge_date
    FROM cohort
    WHERE open_on(intake_date, discharge_date, $as_of::DATE)
),
measure_scores AS (
    SELECT
        s.client_id,
        s.measure,
        min(s.administered_date) AS first_date,
        arg_min(s.total_score, s.administered_date) AS first_score,
        max(s.administered_date) AS last_date,
        arg_max(s.total_score, s.administered_date) AS last_score
    FROM scores AS s
    JOIN open_clients USING (client_id)
    WHERE s.administered_date <= $as_of::DATE
      AND score_period(s.administered_date, open_clients.intake_date, NULL, $baseline_days::INTEGER) = 'treatment'
      AND ($measures::VARCHAR[] IS NULL OR list_contains($measures::VARCHAR[], s.measure))
    GROUP BY s.client_id, s.measure
),
risk_items AS (  -- the risk item is checked whatever the measure filter says
    SELECT
        s.client_id,
        max(s.administered_date) AS risk_date,
        arg_max_null(s.item_9, s.administered_date) AS risk_item_9  -- NULL when the latest score has no items
    FROM scores AS s
    JOIN open_clients USING (client_id)
    WHERE s.administered_date <= $as_of::DATE AND s.measure = $risk_measure::VARCHAR
    GROUP BY s.client_id
),
recent_homework AS (
    SELECT
        a.client_id,
        count(*)::BIGINT AS recent_assignments,
        avg(counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                             $unreviewed_as_not_done::BOOLEAN)) AS recent_quantity
    FROM assignments AS a
    JOIN open_clients USING (client_id)
    WHERE a.assigned_date BETWEEN $window_start::DATE AND $as_of::DATE
      AND in_treatment_window(a.assigned_date, open_clients.intake_date, open_clients.discharge_date)
      AND ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
    GROUP BY a.client_id
)
SELECT
    o.client_id,
    o.clinic,
    o.therapist_id,
    o.program,
    o.intake_date,
    date_diff('day', o.intake_date, $as_of::DATE) / 7.0 AS weeks_in_treatment,
    ms.measure,
    ms.first_date,
    ms.first_score,
    ms.last_date,
    ms.last_score,
    r.risk_date,
    r.risk_item_9,
    coalesce(h.recent_assignments, 0)::BIGINT AS recent_assignments,
    h.recent_quantity
FROM open_clients AS o
LEFT JOIN measure_scores AS ms USING (client_id)
LEFT JOIN risk_items AS r USING (client_id)
LEFT JOIN recent_homework AS h USING (client_id)
ORDER BY o.client_id, ms.measure
