-- Quality improvement, alert counts (docs/metrics.md, "Alerts: clients not on track"): per alert
-- group (macro alert_group) of the cohort's clients in treatment on $as_of, the clients and how many
-- meet each rule (a client may meet several). The rows of quality_alert_clients.sql counted in the
-- database (the same macro and parameters), so the counts never need one row per client.
WITH alerts AS (
    SELECT *
    FROM alert_client_rows($cohort, $as_of::DATE, $window_start::DATE, $risk_measure::VARCHAR, $baseline_days::INTEGER,
                           $unreviewed_as_not_done::BOOLEAN, $measures::VARCHAR[], $homework_types::VARCHAR[],
                           $definitions, $curves, $not_on_track_weeks::INTEGER)
),
grouped AS (
    SELECT alert_group(rule_risk, not_on_track, recent_quantity, $low_edge::DOUBLE, $group_labels) AS "group", *
    FROM alerts
)
SELECT
    "group",
    count(*)::BIGINT AS clients,
    count(*) FILTER (WHERE rule_caseness)::BIGINT AS rule_caseness,
    count(*) FILTER (WHERE rule_off_track)::BIGINT AS rule_off_track,
    count(*) FILTER (WHERE rule_deterioration)::BIGINT AS rule_deterioration,
    count(*) FILTER (WHERE rule_risk)::BIGINT AS rule_risk
FROM grouped
GROUP BY "group"
