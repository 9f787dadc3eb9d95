-- The Cohort outcomes page's clients (analytics.cohort_outcomes.model), kept in the database: the
-- page's queries aggregate these rows and never return them one per client. Loaded after
-- stored_client_rows.sql and outcome_macros.sql, whose macros it uses.
--
-- One row per cohort client with homework or a score on `measure` (the rows of
-- analytics.cohort_outcomes.model.cohort_client_frame): the client's homework (client_homework_rows),
-- first and last score and their outcomes (classified_outcomes), band / quality_band
-- (compliance_band_of the quantity / quality fraction; `bands` = STRUCT(low, high, min_reviewed,
-- labels) from Settings) and weeks = days from the first to the last score / 7.
CREATE OR REPLACE MACRO cohort_measure_clients(cohort, homework_types, unreviewed_as_not_done, measure,
                                               baseline_days, measure_definitions, bands) AS TABLE
    WITH homework AS (
        SELECT * FROM client_homework_rows(cohort, homework_types, unreviewed_as_not_done := unreviewed_as_not_done)
    ),
    measure_scores AS (
        SELECT * FROM client_measure_score_rows(cohort, baseline_days, [measure], NULL::VARCHAR)
    ),
    outcomes AS (
        SELECT * FROM classified_outcomes(measure_scores, measure_definitions)
    )
    SELECT
        coalesce(h.client_id, o.client_id) AS client_id,
        h.assignments,
        h.reviewed_assignments,
        h.reviewed_share,
        h.quantity::DOUBLE AS quantity,
        h.quality::DOUBLE AS quality,
        o.first_date,
        o.first_score::DOUBLE AS first_score,
        o.last_date,
        o.last_score::DOUBLE AS last_score,
        coalesce(o.paired, false) AS paired,
        o.change,
        o.improvement,
        o.reliable_improvement,
        o.reliable_deterioration,
        o.caseness_at_first,
        o.caseness_at_last,
        o.recovered,
        datediff('day', o.first_date, o.last_date) / 7.0 AS weeks,
        compliance_band_of(h.quantity, h.reviewed_assignments, struct_extract(bands, 'low'),
                           struct_extract(bands, 'high'), struct_extract(bands, 'min_reviewed'),
                           struct_extract(bands, 'labels')) AS band,
        compliance_band_of(h.quality, h.reviewed_assignments, struct_extract(bands, 'low'),
                           struct_extract(bands, 'high'), struct_extract(bands, 'min_reviewed'),
                           struct_extract(bands, 'labels')) AS quality_band
    FROM homework AS h
    FULL OUTER JOIN outcomes AS o ON o.client_id = h.client_id;
