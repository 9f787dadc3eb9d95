-- Cohort outcomes, sudden gains: homework per client and week since intake (docs/metrics.md,
-- "Sudden gains"). An assignment counts in the week of its assigned_date (macro weeks_since_intake),
-- only in the treatment window (macro in_treatment_window) and of the $homework_types (NULL = all).
-- assignments = set; reviewed = with a quantity fraction; quality_rated = with a quality rating;
-- quantity / quality = mean assignment fractions of the week (0-1, macros.sql; quantity reads
-- unreviewed work per $unreviewed_as_not_done, macro counted_quantity; NULL when none counted).
-- Only weeks with an assignment have a row.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
fractions AS (
    SELECT
        a.client_id,
        weeks_since_intake(cohort.intake_date, a.assigned_date) AS week,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        quality_fraction(a.quality_rating) AS quality_fraction
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
      AND ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
)
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
ORDER BY client_id, week
