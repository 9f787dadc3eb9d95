-- Therapists in the whole deployment (every clinic, whatever the viewer's scope): the number of
-- distinct therapist ids on record, one row (column therapists, INTEGER). It sets the length of
-- therapist pseudonyms (analytics.quality_improvement.model.therapist_pseudonyms), so that every
-- view of the deployment shows a therapist under the same one; no id leaves the database.
WITH therapists AS (
    SELECT DISTINCT therapist_id
    FROM clients
    WHERE therapist_id IS NOT NULL
)
SELECT count(*)::INTEGER AS therapists
FROM therapists
