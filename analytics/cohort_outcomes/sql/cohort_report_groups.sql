-- Cohort outcomes: the client-level sections' figures as aggregates (one row per group, never one
-- per client; analytics.cohort_outcomes.model.cohort_report). Clients: cohort_measure_clients
-- (analytics/sql/cohort_macros.sql). Groups (kind, key):
--   band / <label>          clients with that quantity band (the bands, band change, band effect, outcome rates)
--   all / NULL              every client with a first score (the "All clients" outcome rates)
--   grid / <High|Low>|<High|Low>  paired clients with a quantity and quality and enough reviewed
--                           assignments, by quantity and quality >= $split (rounded to 9 decimals)
--   cohort / NULL           every client (counts of clients with a quantity / quality, below the
--                           band minimum, the mean reviewed share)
-- Per group: clients, scored (a first score), paired; the counts of measure_outcome_counts
-- (outcome_macros.sql; over paired clients); n_change, mean_change, sd_change (sample SD) of the
-- paired clients' change; for the low band, how many changes lie above / below / at the high band's
-- mean change (the counted U3). Sums are taken in client order (the same digits on every run).
WITH cohort_rows AS (
    SELECT * FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                         $measure, $baseline_days::INTEGER, $measure_definitions, $bands)
),
grouped AS (
    SELECT 'band' AS kind, band AS key, * FROM cohort_rows WHERE band IS NOT NULL
    UNION ALL
    SELECT 'all', NULL, * FROM cohort_rows WHERE first_score IS NOT NULL
    UNION ALL
    SELECT
        'grid',
        CASE WHEN round(quantity, 9) >= $split THEN 'High' ELSE 'Low' END || '|'
            || CASE WHEN round(quality, 9) >= $split THEN 'High' ELSE 'Low' END,
        *
    FROM cohort_rows
    WHERE paired AND quantity IS NOT NULL AND NOT isnan(quantity) AND quality IS NOT NULL AND NOT isnan(quality)
      AND coalesce(reviewed_assignments, 0) >= struct_extract($bands, 'min_reviewed')
),
labelled AS (
    SELECT kind || ':' || coalesce(key, '') AS measure, * FROM grouped
),
counts AS (
    SELECT * FROM measure_outcome_counts(labelled)
),
moments AS (
    SELECT
        kind || ':' || coalesce(key, '') AS measure,
        any_value(kind) AS kind,
        any_value(key) AS key,
        count(*)::BIGINT AS clients,
        count(*) FILTER (WHERE first_score IS NOT NULL)::BIGINT AS scored,
        count(*) FILTER (WHERE paired)::BIGINT AS paired,
        count(change) FILTER (WHERE paired AND isfinite(change))::BIGINT AS n_change,
        avg(change ORDER BY client_id) FILTER (WHERE paired AND isfinite(change)) AS mean_change,
        stddev_samp(change ORDER BY client_id) FILTER (WHERE paired AND isfinite(change)) AS sd_change
    FROM grouped
    GROUP BY ALL
),
high_mean AS (
    SELECT mean_change FROM moments WHERE kind = 'band' AND key = struct_extract($bands, 'labels')[3]
),
low_against_high AS (
    SELECT
        count(*) FILTER (WHERE c.change > h.mean_change)::BIGINT AS low_above_high_mean,
        count(*) FILTER (WHERE c.change < h.mean_change)::BIGINT AS low_below_high_mean,
        count(*) FILTER (WHERE c.change = h.mean_change)::BIGINT AS low_at_high_mean
    FROM cohort_rows AS c, high_mean AS h
    WHERE c.paired AND isfinite(c.change) AND c.band = struct_extract($bands, 'labels')[1]
)
SELECT
    m.kind,
    m.key,
    m.clients,
    m.scored,
    m.paired,
    coalesce(k.reliable_improvement, 0)::BIGINT AS reliable_improvement,
    coalesce(k.reliable_deterioration, 0)::BIGINT AS reliable_deterioration,
    coalesce(k.caseness_at_first, 0)::BIGINT AS caseness_at_first,
    coalesce(k.recovered, 0)::BIGINT AS recovered,
    m.n_change,
    m.mean_change,
    m.sd_change,
    NULL::BIGINT AS with_quantity,
    NULL::BIGINT AS with_quality,
    NULL::BIGINT AS below_min_reviewed,
    NULL::DOUBLE AS reviewed_share,
    CASE WHEN m.kind = 'band' AND m.key = struct_extract($bands, 'labels')[1] THEN l.low_above_high_mean END
        AS low_above_high_mean,
    CASE WHEN m.kind = 'band' AND m.key = struct_extract($bands, 'labels')[1] THEN l.low_below_high_mean END
        AS low_below_high_mean,
    CASE WHEN m.kind = 'band' AND m.key = struct_extract($bands, 'labels')[1] THEN l.low_at_high_mean END
        AS low_at_high_mean
FROM moments AS m
LEFT JOIN counts AS k USING (measure)
LEFT JOIN low_against_high AS l ON true
UNION ALL
SELECT
    'cohort', NULL, count(*)::BIGINT, count(*) FILTER (WHERE first_score IS NOT NULL)::BIGINT,
    count(*) FILTER (WHERE paired)::BIGINT, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    count(*) FILTER (WHERE quantity IS NOT NULL AND NOT isnan(quantity))::BIGINT,
    count(*) FILTER (WHERE quality IS NOT NULL AND NOT isnan(quality))::BIGINT,
    count(*) FILTER (WHERE quantity IS NOT NULL AND NOT isnan(quantity)
                     AND coalesce(reviewed_assignments, 0) < struct_extract($bands, 'min_reviewed'))::BIGINT,
    avg(reviewed_share ORDER BY client_id),
    NULL, NULL, NULL
FROM cohort_rows
ORDER BY kind, key
