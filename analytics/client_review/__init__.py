"""Back-end of the Client review page (``pages/client_review.py``).

- ``model``: one client's scores, homework, sessions, sudden gains and outcome badges;
- ``charts``: the client's score-and-homework chart;
- ``sql/``: the page's queries (one per file).

The session-review PDF/HTML export is built by :mod:`analytics.rendering`.
"""
