-- Cohort outcomes, sudden gains: the homework of the clients with a gain, in the weeks in which a
-- gain came against their other weeks with homework (docs/metrics.md, "Sudden gains"). Two rows at
-- most (gain_week true / false), never one per client or week.
-- Inputs: the cohort's sudden gains on $measure (macro sudden_gain_rows: stored at import, or
-- $found, found anew under other settings), each with its weeks since intake first_week ..
-- last_week (from the week of the score before the gain to the week before the score after it, as
-- on the client review).
-- Per client and week since intake (macro weeks_since_intake): an assignment counts in the week of
-- its assigned_date, only in the treatment window (macro in_treatment_window) and of the
-- $homework_types (NULL = all); assignments = set; reviewed = with a quantity fraction;
-- quality_rated = with a quality rating; quantity / quality = mean assignment fractions of the week
-- (0-1, macros.sql; quantity reads unreviewed work per $unreviewed_as_not_done, macro
-- counted_quantity; NULL when none counted). Only weeks with an assignment count.
-- Per group: client_weeks, clients, assignments and reviewed (counts); quantity = the weeks'
-- quantities weighted by reviewed assignments (by all assignments when $unreviewed_as_not_done),
-- quality weighted by quality-rated assignments (0-1; NULL when no week has a value). Sums run in
-- client and week order, so the figures do not depend on row order.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
gains AS (
    SELECT * FROM sudden_gain_rows($cohort, $measure::VARCHAR, $baseline_days::INTEGER, $reliable_change::DOUBLE,
                                   $higher_is_better::BOOLEAN,
                                   $found::STRUCT(client_ids VARCHAR[], first_weeks BIGINT[], last_weeks BIGINT[],
                                                  magnitudes DOUBLE[], reversed BOOLEAN[]))
),
fractions AS (
    SELECT
        a.client_id,
        weeks_since_intake(cohort.intake_date, a.assigned_date) AS week,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        quality_fraction(a.quality_rating) AS quality_fraction
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE a.client_id IN (SELECT client_id FROM gains)
      AND in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
      AND ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
),
weekly AS (
    SELECT
        client_id,
        week,
        count(*)::BIGINT AS assignments,
        count(quantity_fraction)::BIGINT AS reviewed,
        count(quality_fraction)::BIGINT AS quality_rated,
        avg(counted_quantity(quantity_fraction, $unreviewed_as_not_done::BOOLEAN)) AS quantity,
        avg(quality_fraction) AS quality
    FROM fractions
    GROUP BY client_id, week
),
marked AS (
    SELECT
        w.*,
        EXISTS (SELECT 1 FROM gains AS g
                WHERE g.client_id = w.client_id AND w.week BETWEEN g.first_week AND g.last_week) AS gain_week,
        CASE WHEN $unreviewed_as_not_done::BOOLEAN THEN w.assignments ELSE w.reviewed END AS quantity_weight
    FROM weekly AS w
)
SELECT
    gain_week,
    count(*)::BIGINT AS client_weeks,
    count(DISTINCT client_id)::BIGINT AS clients,
    sum(assignments)::BIGINT AS assignments,
    sum(reviewed)::BIGINT AS reviewed,
    sum(quantity * quantity_weight ORDER BY client_id, week) FILTER (WHERE quantity IS NOT NULL AND quantity_weight > 0)
        / sum(quantity_weight) FILTER (WHERE quantity IS NOT NULL AND quantity_weight > 0) AS quantity,
    sum(quality * quality_rated ORDER BY client_id, week) FILTER (WHERE quality IS NOT NULL AND quality_rated > 0)
        / sum(quality_rated) FILTER (WHERE quality IS NOT NULL AND quality_rated > 0) AS quality
FROM marked
GROUP BY gain_week
ORDER BY gain_week DESC
