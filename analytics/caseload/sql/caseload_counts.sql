-- Caseload, the counts (docs/metrics.md, "Caseload"): over EVERY active client of the viewer's scope on
-- $as_of (DATE), per need (need_rank, 1 risk .. 6 none; no row for a need nobody has): clients, and
-- how many are flagged by each rule (a client counts under every rule they meet): risk,
-- deterioration, not_on_track, measures_overdue, no_contact. The rows and parameters are those of
-- caseload.sql (caseload_client_rows, analytics/sql/alert_macros.sql): the tiles and the listed rows
-- share one definition. At most 6 rows.
SELECT
    need_rank,
    count(*)::BIGINT AS clients,
    count(*) FILTER (WHERE risk)::BIGINT AS risk,
    count(*) FILTER (WHERE deterioration)::BIGINT AS deterioration,
    count(*) FILTER (WHERE not_on_track)::BIGINT AS not_on_track,
    count(*) FILTER (WHERE measures_overdue)::BIGINT AS measures_overdue,
    count(*) FILTER (WHERE no_contact)::BIGINT AS no_contact
FROM caseload_client_rows($cohort, $as_of::DATE, $window_start::DATE, $risk_measure::VARCHAR, $baseline_days::INTEGER,
                          $unreviewed_as_not_done::BOOLEAN, $definitions, $curves, $not_on_track_weeks::INTEGER,
                          $overdue_days::INTEGER, $no_contact_days::INTEGER)
GROUP BY need_rank
ORDER BY need_rank
