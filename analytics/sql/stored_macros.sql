-- The scope an aggregate stored at import (analytics/stored.py: expected recovery curves, the
-- cohort summary) is read under that is exactly cohort's (the viewer's scope with no filter): the
-- whole network ('cohort') or one clinic ('clinic:<name>'); NULL for a therapist's caseload,
-- several clinics or any filter, which read nothing stored (the caller computes on the scope).
CREATE OR REPLACE MACRO stored_scope(cohort) AS
    CASE
        WHEN struct_extract(cohort, 'scope_therapist') IS NOT NULL
          OR struct_extract(cohort, 'clinics') IS NOT NULL
          OR struct_extract(cohort, 'therapists') IS NOT NULL
          OR struct_extract(cohort, 'programs') IS NOT NULL
          OR struct_extract(cohort, 'concerns') IS NOT NULL
          OR struct_extract(cohort, 'intake_from') IS NOT NULL
          OR struct_extract(cohort, 'intake_to') IS NOT NULL THEN NULL
        WHEN struct_extract(cohort, 'scope_clinics') IS NULL THEN 'cohort'
        WHEN len(struct_extract(cohort, 'scope_clinics')) = 1
            THEN 'clinic:' || struct_extract(cohort, 'scope_clinics')[1]
    END;

-- Whether the rows stored at import for one clinic (NULL: clients without a clinic) belong to
-- cohort's scope, for aggregates stored per clinic and read for a scope made of whole clinics
-- (stored_filter_options.sql): the whole network takes every clinic's rows, a viewer limited to
-- clinics those clinics' rows (a NULL clinic is in no such list, as in cohort_clients). FALSE for
-- a therapist's caseload or any filter, which read nothing stored (the caller computes on the scope).
CREATE OR REPLACE MACRO stored_clinic_in_scope(cohort, clinic) AS
    struct_extract(cohort, 'scope_therapist') IS NULL
    AND struct_extract(cohort, 'clinics') IS NULL
    AND struct_extract(cohort, 'therapists') IS NULL
    AND struct_extract(cohort, 'programs') IS NULL
    AND struct_extract(cohort, 'concerns') IS NULL
    AND struct_extract(cohort, 'intake_from') IS NULL
    AND struct_extract(cohort, 'intake_to') IS NULL
    AND coalesce(struct_extract(cohort, 'scope_clinics') IS NULL
                 OR list_contains(struct_extract(cohort, 'scope_clinics')::VARCHAR[], clinic), FALSE);
