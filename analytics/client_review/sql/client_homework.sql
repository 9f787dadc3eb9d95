-- Homework per client of a cohort: counts and the client's quantity and quality over the
-- treatment window (mean of their assignments' fractions, 0-1; the macro client_homework_rows,
-- docs/metrics.md). $unreviewed_as_not_done: the reading of unreviewed homework (Settings).
WITH homework AS (
    SELECT * FROM client_homework_rows($cohort, $homework_types::VARCHAR[],
                                       unreviewed_as_not_done := $unreviewed_as_not_done::BOOLEAN)
)
SELECT
    client_id,
    assignments,           -- set in the treatment window
    reviewed_assignments,  -- reviewed = has a quantity fraction
    reviewed_share,        -- reviewed / set, 0-1; NULL when none set in the window
    quantity,              -- 0-1, NULL when none reviewed (none set, reading "unreviewed = not done")
    quality,               -- 0-1, NULL when none rated
    follow_up_assignments  -- set after discharge: not counted above
FROM homework
ORDER BY client_id
