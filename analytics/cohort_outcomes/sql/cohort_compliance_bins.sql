-- Cohort outcomes, compliance against change as a 2-D histogram (drawn instead of one point per
-- client when a compliance measure has at least $min_clients paired clients with a value): paired
-- clients with a finite value and change, per compliance measure, counted in bins of $x_width of
-- the fraction (0-1, compared after rounding to 9 decimals; the last bin closed: a value of 1 falls in the top bin) and $y_width points of
-- change. One row per non-empty bin: compliance, x_low, x_high, change_low, change_high, clients.
-- The rows are bounded by the scale (1 / $x_width bins by the range of change / $y_width), not by
-- the number of clients.
WITH cohort_rows AS (
    SELECT * FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                         $measure, $baseline_days::INTEGER, $measure_definitions, $bands)
),
pairs AS (
    SELECT 'quantity' AS compliance, quantity AS value, change
    FROM cohort_rows WHERE paired AND isfinite(quantity) AND isfinite(change)
    UNION ALL
    SELECT 'quality', quality, change
    FROM cohort_rows WHERE paired AND isfinite(quality) AND isfinite(change)
),
sized AS (
    SELECT compliance, count(*) AS n FROM pairs GROUP BY compliance
),
binned AS (
    SELECT
        p.compliance,
        least(floor(round(p.value / $x_width::DOUBLE, 9)), round(1.0 / $x_width::DOUBLE) - 1) AS x_bin,
        floor(round(p.change / $y_width::DOUBLE, 9)) AS y_bin
    FROM pairs AS p
    JOIN sized AS s USING (compliance)
    WHERE s.n >= $min_clients::BIGINT
)
SELECT
    compliance,
    x_bin * $x_width::DOUBLE AS x_low,
    (x_bin + 1) * $x_width::DOUBLE AS x_high,
    y_bin * $y_width::DOUBLE AS change_low,
    (y_bin + 1) * $y_width::DOUBLE AS change_high,
    count(*)::BIGINT AS clients
FROM binned
GROUP BY compliance, x_bin, y_bin
ORDER BY compliance, x_bin, y_bin
