"""How a table's columns look on a page: Streamlit column formats from the one column
vocabulary (:class:`analytics.publishing.Column`), for the display frames of
:func:`analytics.publishing.table_frames` (rates already percentages with one decimal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from analytics.publishing import Column, table_frames

#: A link's text is the client id at its end (``client_review?client=ID``:
#: :func:`analytics.drill_down.client_review_href`).
CLIENT_LINK_TEXT = r"client=([^&]+)$"


def client_link_column(header: str, **kwargs: Any) -> object:
    """The column of a table whose cells are links to a client's review, each showing the id."""
    return st.column_config.LinkColumn(header, display_text=CLIENT_LINK_TEXT, **kwargs)


def column_config(columns: Sequence[Column]) -> dict[str, object]:
    """``st.dataframe``'s column_config for a display frame of ``columns`` (headers as
    :func:`analytics.publishing.table_frames` makes them): counts with thousands separators, percentages with one decimal and a % sign,
    a client id as a link to the client's review (:func:`client_link_column`)."""
    number = st.column_config.NumberColumn
    formats = {
        "count": lambda c: number(c.header, format="localized"),
        "pct": lambda c: number(c.header, format="%.1f%%"),
        "limit": lambda c: number(c.header, format="%.1f%%"),
        "number": lambda c: number(c.header, format=f"%.{c.decimals}f"),
        "p": lambda c: number(c.header, format="%.2g"),
        "client": lambda c: client_link_column(c.header),
    }
    return {c.header: formats.get(c.kind, lambda c: st.column_config.TextColumn(c.header))(c) for c in columns}


def show_table(frame: pd.DataFrame, columns: Sequence[Column], *, extra: dict[str, Sequence[Any]] | None = None,
               config: dict[str, object] | None = None, **kwargs: Any) -> Any:
    """``st.dataframe`` of an analytics ``frame`` under ``columns``: headers, units and rounding
    from the one vocabulary (:func:`analytics.publishing.table_frames`); no index, full width
    unless given. ``config`` overrides single columns' formats (e.g. a link column)."""
    shown = table_frames(frame, columns, extra=extra).display
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    return st.dataframe(shown, column_config={**column_config(columns), **(config or {})}, **kwargs)
