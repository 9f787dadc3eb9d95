-- Cohort outcomes, within-client analysis: one row per interval between two consecutive
-- in-treatment scores (macro score_period = 'treatment': from the baseline window, $baseline_days
-- days before intake, to discharge) of a client on $measure (usually one week; docs/metrics.md,
-- "Cohort outcomes" > "Within-client analysis").
-- score / next_score: the totals at the start and end of the interval (points; two scores on
-- one day are averaged); change = next_score - score (negative is improvement).
-- quantity: mean quantity fraction (0-1, macro quantity_fraction) of the assignments set
-- during the interval (assigned on or after the start score's date and before the next
-- score's date), i.e. the homework done between the two scores, counting only assignments in
-- the treatment window (macro in_treatment_window; follow-up homework never counts) and reading
-- unreviewed work per $unreviewed_as_not_done (macro counted_quantity, as client_homework_rows).
-- reviewed_assignments: those with a quantity fraction. Intervals longer than $max_gap_days
-- days or without a counted assignment (a reviewed one, in the default reading) are left out.
-- Large cohorts: of the clients with at least two such scores (clients_eligible), at most
-- $max_clients are used, chosen deterministically (lowest md5 of client_id), before any
-- interval is built, so the cost does not grow with the cohort.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
measure_scores AS (
    SELECT s.client_id, s.administered_date, avg(s.total_score) AS score
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure = $measure
      AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER)
          = 'treatment'
    GROUP BY s.client_id, s.administered_date
),
eligible AS (
    SELECT client_id, md5(client_id) AS draw
    FROM measure_scores
    GROUP BY client_id
    HAVING count(*) >= 2
),
kept AS (
    SELECT client_id FROM eligible ORDER BY draw LIMIT $max_clients
),
intervals AS (
    SELECT
        client_id,
        administered_date AS score_date,
        score,
        lead(administered_date) OVER w AS next_date,
        lead(score) OVER w AS next_score
    FROM measure_scores
    JOIN kept USING (client_id)
    WINDOW w AS (PARTITION BY client_id ORDER BY administered_date)
),
homework AS (
    SELECT
        a.client_id,
        a.assigned_date,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS reviewed_quantity,
        counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                         $unreviewed_as_not_done::BOOLEAN) AS quantity
    FROM assignments AS a
    JOIN kept USING (client_id)
    JOIN cohort USING (client_id)
    WHERE ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
      AND in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
),
interval_homework AS (
    SELECT
        i.client_id,
        i.score_date,
        i.score,
        i.next_score,
        count(h.reviewed_quantity)::BIGINT AS reviewed_assignments,
        avg(h.quantity) AS quantity
    FROM intervals AS i
    JOIN homework AS h
      ON h.client_id = i.client_id AND h.assigned_date >= i.score_date AND h.assigned_date < i.next_date
    WHERE i.next_date IS NOT NULL AND i.next_date - i.score_date <= $max_gap_days
    GROUP BY i.client_id, i.score_date, i.score, i.next_score
    HAVING count(h.quantity) > 0
)
SELECT
    ih.client_id,
    treatment_week(ih.score_date, cohort.intake_date) AS week,  -- whole weeks since intake at the interval start
    ih.score,
    ih.next_score,
    ih.next_score - ih.score AS change,
    ih.quantity,
    ih.reviewed_assignments,
    (SELECT count(*) FROM eligible)::BIGINT AS clients_eligible
FROM interval_homework AS ih
JOIN cohort USING (client_id)
ORDER BY ih.client_id, ih.score_date
