-- Cohort outcomes, assignment design: completion and quality of assignments grouped by
-- (docs/metrics.md, "Cohort outcomes" > "Assignment design"):
--   factor 'items_met'     level '0'..'5'  design-checklist items met (macro checklist_items_met)
--   factor <item name>     level 'met' / 'not met' for goal_linked, rationale_given,
--                          rehearsed_in_session, practice_scheduled, obstacles_planned
--   factor 'homework_type' level = the type
-- Unknown (NULL) checklist items count as not met, as in checklist_items_met.
-- Completion = quantity fraction (0-1) of reviewed assignments; quality = quality fraction (0-1)
-- of quality-rated ones; sd_* are sample SDs over assignments. n_clients counts distinct clients
-- with a reviewed assignment in the group. One pass over the assignments (GROUPING SETS).
WITH cohort AS (
    SELECT * FROM cohort_clients($scope_clinics::VARCHAR[], $scope_therapist::VARCHAR, $clinics::VARCHAR[],
                                 $therapists::VARCHAR[], $programs::VARCHAR[], $concerns::VARCHAR[],
                                 $intake_from::DATE, $intake_to::DATE)
),
assignment_rows AS (
    SELECT
        a.client_id,
        a.homework_type,
        checklist_items_met(a.goal_linked, a.rationale_given, a.rehearsed_in_session,
                            a.practice_scheduled, a.obstacles_planned) AS items_met,
        coalesce(a.goal_linked, false) AS goal_linked,
        coalesce(a.rationale_given, false) AS rationale_given,
        coalesce(a.rehearsed_in_session, false) AS rehearsed_in_session,
        coalesce(a.practice_scheduled, false) AS practice_scheduled,
        coalesce(a.obstacles_planned, false) AS obstacles_planned,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity,
        quality_fraction(a.quality_rating) AS quality
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE $homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type)
),
grouped AS (
    SELECT
        CASE
            WHEN grouping(items_met) = 0 THEN 'items_met'
            WHEN grouping(goal_linked) = 0 THEN 'goal_linked'
            WHEN grouping(rationale_given) = 0 THEN 'rationale_given'
            WHEN grouping(rehearsed_in_session) = 0 THEN 'rehearsed_in_session'
            WHEN grouping(practice_scheduled) = 0 THEN 'practice_scheduled'
            WHEN grouping(obstacles_planned) = 0 THEN 'obstacles_planned'
            ELSE 'homework_type'
        END AS factor,
        CASE
            WHEN grouping(items_met) = 0 THEN items_met::VARCHAR
            WHEN grouping(homework_type) = 0 THEN homework_type
            WHEN coalesce(goal_linked, rationale_given, rehearsed_in_session, practice_scheduled,
                          obstacles_planned) THEN 'met'
            ELSE 'not met'
        END AS level,
        count(*)::BIGINT AS assignments,
        count(quantity)::BIGINT AS reviewed_assignments,
        count(DISTINCT client_id) FILTER (WHERE quantity IS NOT NULL)::BIGINT AS n_clients,
        avg(quantity) AS mean_quantity,
        stddev_samp(quantity) AS sd_quantity,
        count(quality)::BIGINT AS quality_rated,
        avg(quality) AS mean_quality,
        stddev_samp(quality) AS sd_quality
    FROM assignment_rows
    GROUP BY GROUPING SETS ((items_met), (goal_linked), (rationale_given), (rehearsed_in_session),
                            (practice_scheduled), (obstacles_planned), (homework_type))
)
SELECT * FROM grouped
ORDER BY factor, level
