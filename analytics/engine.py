"""The DuckDB engine as the package uses it: the extension module alone.

DuckDB 2.0's Python package is its C++ extension ``_duckdb`` (the connection, cursors, results and
exception classes) plus a pure-Python layer (the relational API: ``duckdb/_relation.py``,
expressions, Arrow and Polars sources) that ``import duckdb`` loads eagerly. Measured with
``python -X importtime`` (2 cores, DuckDB 2.0.1): the extension 0.03 s, ``import duckdb`` 0.18-0.22 s,
the largest part of a whole ``python -m analytics summary`` process (issue 12). The modules that
every process loads (:mod:`analytics.db`, :mod:`analytics.storage`) use
only the connection API (``connect``, ``cursor``, ``execute``, ``fetch*``, ``register``,
``interrupt``) and the exception classes, which the extension defines and ``duckdb`` re-exports
unchanged (``duckdb/__init__.py``: "This module re-exports the DuckDB C++ extension"). They import
them from here; ``tests/test_engine.py`` checks that every name used is the very object ``duckdb``
exports, so an upgrade that moves one fails there, not in a user's hands. Code that needs the
relational API (``con.sql``, ``read_csv`` relations) imports ``duckdb`` itself, which attaches those
methods to the same connection class.
"""

from __future__ import annotations

try:
    import _duckdb as duckdb
except ImportError:  # a DuckDB whose extension is not importable under that name: the whole package
    import duckdb  # type: ignore[no-redef]

__all__ = ["duckdb"]
