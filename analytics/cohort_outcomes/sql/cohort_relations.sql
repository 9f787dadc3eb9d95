-- Cohort outcomes: each compliance fraction (quantity, quality) against change, as sums (one row
-- per compliance measure, never one per client; analytics.cohort_outcomes.model.compliance_change
-- and adjusted_relation turn them into r, rho, the line and the adjusted relation).
-- Clients: cohort_measure_clients (analytics/sql/cohort_macros.sql), paired, with a finite value
-- and change. Per compliance: n, var_x / var_y (sample variances, 0 = no spread), r (Pearson),
-- slope / intercept (least squares of change on the fraction), rho (Pearson r of the average ranks
-- of the values rounded to 9 decimals: Spearman's rho as scipy computes it; rank_var_* their
-- variances). Adjusted (clients who also have a first score and weeks): adj_n and the sample
-- covariances of x (the fraction), y (change), f (first score) and w (weeks). Sums in client order.
WITH cohort_rows AS (
    SELECT * FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                         $measure, $baseline_days::INTEGER, $measure_definitions, $bands)
),
pairs AS (
    SELECT 'quantity' AS compliance, client_id, quantity AS x, change AS y, first_score AS f, weeks AS w
    FROM cohort_rows WHERE paired AND isfinite(quantity) AND isfinite(change)
    UNION ALL
    SELECT 'quality', client_id, quality, change, first_score, weeks
    FROM cohort_rows WHERE paired AND isfinite(quality) AND isfinite(change)
),
ranked AS (
    SELECT
        *,
        rank() OVER (PARTITION BY compliance ORDER BY round(x, 9))
            + (count(*) OVER (PARTITION BY compliance, round(x, 9)) - 1) / 2.0 AS rx,
        rank() OVER (PARTITION BY compliance ORDER BY round(y, 9))
            + (count(*) OVER (PARTITION BY compliance, round(y, 9)) - 1) / 2.0 AS ry,
        isfinite(f) AND isfinite(w) AS adjustable
    FROM pairs
),
-- Every sum below in client order, for the same float digits on every run: each compliance's rows
-- sorted once into a list and unnested, so one thread adds up each compliance's rows in that order
-- (the same digits as an ORDER BY client_id in each aggregate, which sorted the rows 16 times).
in_client_order AS (
    SELECT compliance, list(r ORDER BY r.client_id) AS client_rows FROM ranked AS r GROUP BY compliance
),
ordered AS (
    SELECT unnest(client_rows, recursive := true) FROM in_client_order
)
SELECT
    compliance,
    count(*)::BIGINT AS n,
    var_samp(x) AS var_x,
    var_samp(y) AS var_y,
    corr(y, x) AS r,
    regr_slope(y, x) AS slope,
    regr_intercept(y, x) AS intercept,
    corr(ry, rx) AS rho,
    var_samp(round(x, 9)) AS rank_var_x,
    var_samp(round(y, 9)) AS rank_var_y,
    count(*) FILTER (WHERE adjustable)::BIGINT AS adj_n,
    covar_samp(x, x) FILTER (WHERE adjustable) AS c_xx,
    covar_samp(x, y) FILTER (WHERE adjustable) AS c_xy,
    covar_samp(x, f) FILTER (WHERE adjustable) AS c_xf,
    covar_samp(x, w) FILTER (WHERE adjustable) AS c_xw,
    covar_samp(y, y) FILTER (WHERE adjustable) AS c_yy,
    covar_samp(y, f) FILTER (WHERE adjustable) AS c_yf,
    covar_samp(y, w) FILTER (WHERE adjustable) AS c_yw,
    covar_samp(f, f) FILTER (WHERE adjustable) AS c_ff,
    covar_samp(f, w) FILTER (WHERE adjustable) AS c_fw,
    covar_samp(w, w) FILTER (WHERE adjustable) AS c_ww
FROM ordered
GROUP BY compliance
ORDER BY compliance
