-- De-identified Cohort outcomes (analytics.deidentified.deidentified_cohort_view): the outcomes-by-band
-- table's figures for several intake-month windows of one cohort, as aggregates (never one row per
-- client). $cohort: the cohort, widened to cover every window; $windows: LIST of
-- STRUCT(intake_from DATE, intake_to DATE) (NULL = open), numbered from 0 in list order (window 0:
-- the cohort itself, the others: the adjacent month settings of the guard). Clients:
-- cohort_measure_clients (analytics/sql/cohort_macros.sql) with intake_date from cohort_clients.
-- Rows (window, kind, key):
--   band / <label>   clients with a first score in that quantity band
--   none / NULL      clients with a first score and no band
--   all / NULL       every client with a first score (the "All clients" row)
--   window / NULL    the window's cohort clients (clients), with a quantity / quality (with_quantity,
--                    with_quality) and their mean quantity / quality (mean_quantity, mean_quality)
-- Per band row: paired and the counts of measure_outcome_counts (outcome_macros.sql; over paired
-- clients), n_change, mean_change, sd_change (sample SD) of the paired clients' change, the same as
-- cohort_report_groups.sql. Sums are taken in client order (the same digits on every run).
WITH cohort AS (
    SELECT client_id, intake_date FROM cohort_clients($cohort)
),
windows AS (
    SELECT
        i - 1 AS window_no,
        struct_extract(w, 'intake_from')::DATE AS intake_from,
        struct_extract(w, 'intake_to')::DATE AS intake_to
    FROM (SELECT unnest($windows) AS w, generate_subscripts($windows, 1) AS i)
),
cohort_rows AS (
    SELECT m.*, c.intake_date
    FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                $measure, $baseline_days::INTEGER, $measure_definitions, $bands) AS m
    JOIN cohort AS c USING (client_id)
),
window_rows AS (
    SELECT w.window_no, r.*
    FROM cohort_rows AS r
    JOIN windows AS w
      ON (w.intake_from IS NULL OR r.intake_date >= w.intake_from)
     AND (w.intake_to IS NULL OR r.intake_date <= w.intake_to)
),
grouped AS (
    SELECT 'band' AS kind, band AS key, * FROM window_rows WHERE first_score IS NOT NULL AND band IS NOT NULL
    UNION ALL
    SELECT 'none', NULL, * FROM window_rows WHERE first_score IS NOT NULL AND band IS NULL
    UNION ALL
    SELECT 'all', NULL, * FROM window_rows WHERE first_score IS NOT NULL
),
labelled AS (
    SELECT window_no::VARCHAR || ':' || kind || ':' || coalesce(key, '') AS measure, * FROM grouped
),
counts AS (
    SELECT * FROM measure_outcome_counts(labelled)
),
moments AS (
    SELECT
        window_no::VARCHAR || ':' || kind || ':' || coalesce(key, '') AS measure,
        window_no,
        any_value(kind) AS kind,
        any_value(key) AS key,
        count(*) FILTER (WHERE paired)::BIGINT AS paired,
        count(change) FILTER (WHERE paired AND isfinite(change))::BIGINT AS n_change,
        avg(change ORDER BY client_id) FILTER (WHERE paired AND isfinite(change)) AS mean_change,
        stddev_samp(change ORDER BY client_id) FILTER (WHERE paired AND isfinite(change)) AS sd_change
    FROM grouped
    GROUP BY ALL
),
window_clients AS (
    SELECT w.window_no, count(c.client_id)::BIGINT AS clients
    FROM windows AS w
    LEFT JOIN cohort AS c
      ON (w.intake_from IS NULL OR c.intake_date >= w.intake_from)
     AND (w.intake_to IS NULL OR c.intake_date <= w.intake_to)
    GROUP BY w.window_no
),
window_homework AS (
    SELECT
        window_no,
        count(*) FILTER (WHERE quantity IS NOT NULL AND NOT isnan(quantity))::BIGINT AS with_quantity,
        count(*) FILTER (WHERE quality IS NOT NULL AND NOT isnan(quality))::BIGINT AS with_quality,
        avg(quantity ORDER BY client_id) FILTER (WHERE quantity IS NOT NULL AND NOT isnan(quantity)) AS mean_quantity,
        avg(quality ORDER BY client_id) FILTER (WHERE quality IS NOT NULL AND NOT isnan(quality)) AS mean_quality
    FROM window_rows
    GROUP BY window_no
)
SELECT
    m.window_no,
    m.kind,
    m.key,
    NULL::BIGINT AS clients,
    m.paired,
    coalesce(k.caseness_at_first, 0)::BIGINT AS caseness_at_first,
    coalesce(k.recovered, 0)::BIGINT AS recovered,
    coalesce(k.reliable_improvement, 0)::BIGINT AS reliable_improvement,
    coalesce(k.reliable_deterioration, 0)::BIGINT AS reliable_deterioration,
    m.n_change,
    m.mean_change,
    m.sd_change,
    NULL::BIGINT AS with_quantity,
    NULL::BIGINT AS with_quality,
    NULL::DOUBLE AS mean_quantity,
    NULL::DOUBLE AS mean_quality
FROM moments AS m
LEFT JOIN counts AS k USING (measure)
UNION ALL
SELECT
    c.window_no, 'window', NULL, c.clients, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    coalesce(h.with_quantity, 0), coalesce(h.with_quality, 0), h.mean_quantity, h.mean_quality
FROM window_clients AS c
LEFT JOIN window_homework AS h USING (window_no)
ORDER BY window_no, kind, key
