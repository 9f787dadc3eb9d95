"""Back-end of the Data page (``pages/data.py``) and the home page's overview (``dashboard.py``).

- ``model``: data overview and freshness, import history, rejects (admin data), filter options,
  the data's "as of" date;
- ``sql/``: their queries (one per file).
"""
