-- Values a viewer can pick in the cohort filters, read from the values stored at import per
-- clinic (analytics/stored.py, store_filter_values: clinic_filter_values over the whole network)
-- for a scope made of whole clinics: the network, or the viewer's clinics (stored_clinic_in_scope;
-- a therapist's caseload reads nothing here and filter_options.sql computes it). The same rows as
-- filter_options.sql: per field the first $option_limit values in order, plus any value named in
-- $wanted ('field:value') that is in the scope; available = how many values the field has there.
WITH scoped_values AS (
    SELECT s.field, s.value
    FROM stored_filter_values AS s
    WHERE stored_clinic_in_scope($cohort, s.clinic)
    GROUP BY s.field, s.value
),
ranked AS (
    SELECT field, value,
           count(*) OVER (PARTITION BY field) AS available,
           row_number() OVER (PARTITION BY field ORDER BY value) AS position
    FROM scoped_values
)
SELECT field, value, available
FROM ranked
WHERE position <= $option_limit OR list_contains($wanted, field || ':' || value)
ORDER BY field, value
