-- Expected recovery curves stored at import (analytics/stored.py, store_expected_fits): the rows
-- the fit query (expected_response_fit.sql) gave for one scope, the one that is exactly $cohort's ('cohort' = the whole
-- network, 'clinic:<name>' = one clinic), in the same columns and order. Only
-- analytics.expected_response reads it, and only for the scope that is exactly the viewer's, under
-- the settings the fit was stored with (ClinicDatabase.stored_fit_scopes).
WITH viewer_scope AS (
    -- The stored scope that is exactly the cohort's (the viewer's scope, no filter): the whole
    -- network ('cohort') or one clinic ('clinic:<name>'); NULL for a therapist's caseload, several
    -- clinics or any filter, and then no row is returned (the caller fits on the scope itself).
    SELECT CASE
        WHEN struct_extract($cohort, 'scope_therapist') IS NOT NULL
          OR struct_extract($cohort, 'clinics') IS NOT NULL
          OR struct_extract($cohort, 'therapists') IS NOT NULL
          OR struct_extract($cohort, 'programs') IS NOT NULL
          OR struct_extract($cohort, 'concerns') IS NOT NULL
          OR struct_extract($cohort, 'intake_from') IS NOT NULL
          OR struct_extract($cohort, 'intake_to') IS NOT NULL THEN NULL
        WHEN struct_extract($cohort, 'scope_clinics') IS NULL THEN 'cohort'
        WHEN len(struct_extract($cohort, 'scope_clinics')) = 1
            THEN 'clinic:' || struct_extract($cohort, 'scope_clinics')[1]
    END AS fit_scope
)
SELECT
    f.fit_scope, f.measure, f.n_clients, f.n_scores, f.c0, f.c1, f.cut_1, f.cut_2, f.band, f.third, f.low, f.high,
    f.cell_clients
FROM stored_expected_response_fit AS f
JOIN viewer_scope USING (fit_scope)
ORDER BY f.measure, f.band, f.third
