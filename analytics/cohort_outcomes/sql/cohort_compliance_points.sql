-- Cohort outcomes, compliance against change: one row per paired client with a finite compliance
-- value and change (compliance = 'quantity' / 'quality', client_id, band = the client's band of that
-- compliance measure, value 0-1, change in points), only for the compliance measures with at most
-- $max_points such clients (NULL: every one; the identified viewer's CSV, built on download). Above
-- it the page draws cohort_compliance_bins instead, so this query's rows never grow past the bound.
WITH cohort_rows AS (
    SELECT * FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                         $measure, $baseline_days::INTEGER, $measure_definitions, $bands)
),
pairs AS (
    SELECT 'quantity' AS compliance, client_id, band, quantity AS value, change
    FROM cohort_rows WHERE paired AND isfinite(quantity) AND isfinite(change)
    UNION ALL
    SELECT 'quality', client_id, quality_band, quality, change
    FROM cohort_rows WHERE paired AND isfinite(quality) AND isfinite(change)
),
sized AS (
    SELECT compliance, count(*) AS n FROM pairs GROUP BY compliance
)
SELECT p.compliance, p.client_id, p.band, p.value, p.change
FROM pairs AS p
JOIN sized AS s USING (compliance)
WHERE $max_points::BIGINT IS NULL OR s.n <= $max_points::BIGINT
ORDER BY p.compliance, p.client_id
