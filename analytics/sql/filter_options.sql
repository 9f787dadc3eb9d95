-- Values a viewer can pick in the cohort filters, from the clients they may see, computed now
-- (a therapist's caseload, or a database imported before the values were stored; otherwise
-- stored_filter_options.sql reads the same rows stored at import).
-- Per field (clinic, therapist, program, concern, measure, homework_type): the first
-- $option_limit values in order, plus any value named in $wanted ('field:value' strings, the
-- values a link or the viewer asked for) that is in the scope; available = how many values the
-- field has in the scope (more than shown: the page offers a search for the rest).
WITH scoped_values AS (
    SELECT field, value FROM clinic_filter_values($cohort) GROUP BY field, value
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
