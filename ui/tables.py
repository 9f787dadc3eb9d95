"""How a table's columns look on a page: Streamlit column formats from the one column
vocabulary (:class:`analytics.publishing.Column`), for frames of numbers as the analytics
return them (0-1 rates shown as percentages)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from analytics.publishing import Column


def column_config(columns: Sequence[Column]) -> dict[str, object]:
    """``st.dataframe``'s column_config for a frame whose columns are the ``columns``' headers
    (as :func:`analytics.cohort_outcomes.model.display_table` makes it)."""
    number = st.column_config.NumberColumn
    formats = {
        "count": lambda c: number(c.header, format="localized"),
        "pct": lambda c: number(c.header, format="percent"),
        "limit": lambda c: number(c.header, format="percent"),
        "number": lambda c: number(c.header, format=f"%.{c.decimals}f"),
        "p": lambda c: number(c.header, format="%.2g"),
    }
    return {c.header: formats.get(c.kind, lambda c: st.column_config.TextColumn(c.header))(c) for c in columns}
