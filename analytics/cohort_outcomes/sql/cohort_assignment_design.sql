-- Cohort outcomes, assignment design: completion and quality of assignments grouped by
-- (docs/metrics.md, "Cohort outcomes" > "Assignment design"):
--   factor 'items_met'     level '0'..'5'  design-checklist items met (macro checklist_items_met)
--   factor <item name>     level 'met' / 'not met' for goal_linked, rationale_given,
--                          rehearsed_in_session, practice_scheduled, obstacles_planned
--   factor 'homework_type' level = the type
-- Unknown (NULL) checklist items count as not met, as in checklist_items_met.
-- Only assignments in the client's treatment window count (macro in_treatment_window, as
-- client_homework_rows; follow-up homework set after discharge is left out).
-- Completion = quantity fraction (0-1) of reviewed assignments, read per $unreviewed_as_not_done
-- (macro counted_quantity: true counts unreviewed assignments as not done, 0, and they then
-- count in the mean and its n); quality = quality fraction (0-1) of quality-rated ones.
-- reviewed_assignments = assignments with a quantity fraction, whatever the reading. Means and sample SDs are over assignments (SD from sums of squares:
-- fractions are 0-1, so this is numerically safe). n_clients counts distinct clients with a
-- counted (reviewed, in the default reading) assignment in the group: the sums are first taken per client and group
-- (GROUPING SETS), then added up per group.
-- se_quantity / se_quality: cluster-robust (by client) standard error of the mean, for the
-- ratio mean m = sum S_i / sum n_i over clients i (S_i, n_i the client's sum and count):
-- sqrt(G / (G - 1) * sum_i (S_i - m n_i)^2) / sum_i n_i, G = clients with a value (CR1;
-- Cameron & Miller 2015), from the per-client sums: sum (S_i - m n_i)^2 =
-- sum S_i^2 - 2 m sum S_i n_i + m^2 sum n_i^2. clients_quality = G for quality.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
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
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) IS NOT NULL AS reviewed,
        counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                         $unreviewed_as_not_done::BOOLEAN) AS quantity,
        quality_fraction(a.quality_rating) AS quality
    FROM assignments AS a
    JOIN cohort USING (client_id)
    WHERE ($homework_types::VARCHAR[] IS NULL OR list_contains($homework_types::VARCHAR[], a.homework_type))
      AND in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
),
per_client AS (
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
        count(*) AS n,                        -- assignments
        count(*) FILTER (WHERE reviewed) AS n_r,  -- reviewed assignments
        count(quantity) AS n_q,               -- counted assignments (= reviewed in the default reading)
        sum(quantity) AS sum_q,
        sum(quantity * quantity) AS sum_qq,
        count(quality) AS n_l,                -- quality-rated assignments
        sum(quality) AS sum_l,
        sum(quality * quality) AS sum_ll
    FROM assignment_rows
    GROUP BY GROUPING SETS ((client_id, items_met), (client_id, goal_linked), (client_id, rationale_given),
                            (client_id, rehearsed_in_session), (client_id, practice_scheduled),
                            (client_id, obstacles_planned), (client_id, homework_type))
),
grouped AS (
    SELECT
        factor,
        level,
        sum(n) AS n,
        sum(n_r) AS n_r,
        sum(n_q) AS n_q,
        sum(sum_q) AS sum_q,
        sum(sum_qq) AS sum_qq,
        sum(n_l) AS n_l,
        sum(sum_l) AS sum_l,
        sum(sum_ll) AS sum_ll,
        count(*) FILTER (WHERE n_q > 0) AS n_clients,
        sum(sum_q * sum_q) AS ss_q,
        sum(sum_q * n_q) AS sn_q,
        sum(n_q * n_q) AS nn_q,
        sum(sum_l * sum_l) AS ss_l,
        sum(sum_l * n_l) AS sn_l,
        sum(n_l * n_l) AS nn_l,
        count(*) FILTER (WHERE n_l > 0) AS n_clients_l
    FROM per_client
    GROUP BY factor, level
)
SELECT
    factor,
    level,
    n::BIGINT AS assignments,
    n_r::BIGINT AS reviewed_assignments,
    n_clients::BIGINT AS n_clients,
    sum_q / nullif(n_q, 0) AS mean_quantity,
    CASE WHEN n_q > 1 THEN sqrt(greatest((sum_qq - sum_q * sum_q / n_q) / (n_q - 1), 0)) END AS sd_quantity,
    n_l::BIGINT AS quality_rated,
    sum_l / nullif(n_l, 0) AS mean_quality,
    CASE WHEN n_l > 1 THEN sqrt(greatest((sum_ll - sum_l * sum_l / n_l) / (n_l - 1), 0)) END AS sd_quality,
    CASE WHEN n_clients > 1 THEN sqrt(greatest(ss_q - 2 * (sum_q / n_q) * sn_q + (sum_q / n_q) ^ 2 * nn_q, 0)
                                      * n_clients / (n_clients - 1)) / n_q END AS se_quantity,
    n_clients_l::BIGINT AS clients_quality,
    CASE WHEN n_clients_l > 1 THEN sqrt(greatest(ss_l - 2 * (sum_l / n_l) * sn_l + (sum_l / n_l) ^ 2 * nn_l, 0)
                                         * n_clients_l / (n_clients_l - 1)) / n_l END AS se_quality
FROM grouped
ORDER BY factor, level
