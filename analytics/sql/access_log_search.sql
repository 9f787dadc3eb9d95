-- Access-log rows for the admin page (analytics/audit.py), newest first. Runs on the audit
-- database (its own file, not the clinic database): no cohort scope; the page is admin only.
-- Filters are bound values; NULL means "any". Dates are inclusive UTC days.
WITH wanted AS (
    SELECT
        lower($email::VARCHAR) AS email_part,   -- part of an address, case-insensitive
        $client_id::VARCHAR AS client_id,       -- exact client id
        $actions::VARCHAR[] AS actions,         -- any of these actions
        $date_from::DATE AS date_from,
        $date_to::DATE AS date_to
)
SELECT l.id, l."at", l.email, l.role, l.page, l.action, l.client_id, l.detail
FROM access_log AS l, wanted AS w
WHERE (w.email_part IS NULL OR contains(l.email, w.email_part))
  AND (w.client_id IS NULL OR l.client_id = w.client_id)
  AND (w.actions IS NULL OR list_contains(w.actions, l.action))
  AND (w.date_from IS NULL OR l."at" >= w.date_from::TIMESTAMPTZ)
  AND (w.date_to IS NULL OR l."at" < (w.date_to + 1)::TIMESTAMPTZ)
ORDER BY l."at" DESC, l.id
LIMIT $limit
