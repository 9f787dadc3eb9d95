-- Assignments of one client, newest first. quantity / quality are the metric fractions (0-1,
-- macros.sql); reviewed = has a quantity fraction (same rule as client_homework.sql).
-- checklist_met = design-checklist items met (0-5). week = whole weeks since intake_date of
-- the assigned date. description (free text) only when $free_text is true.
WITH client AS (
    SELECT client_id, intake_date
    FROM scoped_client($cohort, $client_id::VARCHAR)
)
SELECT
    a.assignment_id,
    a.assigned_date,
    a.reviewed_date,
    a.homework_type,
    a.goal_linked,
    a.rationale_given,
    a.rehearsed_in_session,
    a.practice_scheduled,
    a.obstacles_planned,
    checklist_items_met(a.goal_linked, a.rationale_given, a.rehearsed_in_session,
                        a.practice_scheduled, a.obstacles_planned)::BIGINT AS checklist_met,
    a.planned_practices,
    a.completed_practices,
    a.quantity_rating,
    a.quality_rating,
    quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity,
    quality_fraction(a.quality_rating) AS quality,
    quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) IS NOT NULL AS reviewed,
    a.rated_by,
    weeks_since_intake(c.intake_date, a.assigned_date) AS week,
    CASE WHEN $free_text::BOOLEAN THEN a.description END AS description
FROM assignments AS a
JOIN client AS c USING (client_id)
WHERE a.client_id = $client_id::VARCHAR
ORDER BY a.assigned_date DESC, a.assignment_id DESC
