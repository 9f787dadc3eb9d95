"""Plotly figures for the quality-improvement page and its meeting pack.

Pure functions: each takes a published table (:class:`analytics.quality_improvement.model.PublishedTable`, whose
``numeric`` frame holds NA where a value is withheld) and returns a ``go.Figure``. Withheld
values leave gaps; hover shows the exact values and their n. The same figures go into the
page, the HTML pack and (as images) the PDF pack.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..publishing import PublishedTable
from ..text import plotly_text
from .model import (
    FUNNEL_METRICS,
    NHS_PAIRED_SUFFIX,
    STATUS_HIGH_95,
    STATUS_HIGH_998,
    STATUS_LOW_95,
    STATUS_LOW_998,
    UNIT_SINGULAR,
    FunnelPanel,
)

FONT = "Inter, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif"
INK = "#1f2933"
GRID = "#e4e7eb"
# A restrained, colour-blind-safe palette (Okabe-Ito based).
SERIES = {
    "blue": "#0b6fa4",
    "orange": "#d55e00",
    "green": "#009e73",
    "purple": "#7a4f9a",
    "grey": "#7b8794",
    "amber": "#e69f00",
    "red": "#c0392b",
}
NHS_RECOVERY_STANDARD = 0.5  # clinical-reference.md, "Outcome definitions": national standard 50%


def _layout(fig: go.Figure, title: str, *, height: int = 380, yaxis_title: str | None = None) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.0, "xref": "paper", "xanchor": "left", "font": {"size": 16, "color": INK}},
        font={"family": FONT, "size": 12, "color": INK},
        height=height,
        margin={"l": 64, "r": 24, "t": 56, "b": 88},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0, "title": None},
        hovermode="x unified",
        hoverlabel={"font": {"family": FONT}},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=False, linecolor=GRID, ticks="outside", tickcolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, linecolor=GRID)
    if yaxis_title:
        fig.update_yaxes(title_text=yaxis_title)
    return fig


def _values(series: pd.Series, scale: float = 1.0) -> list[float | None]:
    out: list[float | None] = []
    for v in series:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(float(v) * scale)
    return out


def _counts(series: pd.Series) -> list[str]:
    """n for hover text: the number, or 'withheld'."""
    out = []
    for v in series:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append("withheld")
        else:
            out.append(f"{int(v):,}")
    return out


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure with a message (only for exports; the page shows st.info instead)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": SERIES["grey"]})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def activity_figure(table: PublishedTable) -> go.Figure:
    """Active clients and attended sessions per month (top), assignments per attended session (bottom)."""
    df = table.numeric
    months = list(df["month"])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.1,
                        subplot_titles=("Clients and sessions", "Assignments per attended session"))
    for key, name, colour in (
        ("active_clients", "Active clients", SERIES["blue"]),
        ("sessions_attended", "Sessions attended", SERIES["grey"]),
        ("assignments", "Assignments set", SERIES["green"]),
    ):
        fig.add_trace(go.Scatter(
            x=months, y=_values(df[key]), name=name, mode="lines+markers",
            line={"color": colour, "width": 2}, marker={"size": 6},
            hovertemplate="%{y:,.0f}<extra>" + name + "</extra>",
        ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=months, y=_values(df["assignments_per_session"]), name="Assignments per attended session",
        mode="lines+markers", line={"color": SERIES["purple"], "width": 2}, marker={"size": 6},
        customdata=np.array(_counts(df["sessions_attended"]), dtype=object).reshape(-1, 1),
        hovertemplate="%{y:.2f} (sessions: %{customdata[0]})<extra>Per attended session</extra>",
        showlegend=False,
    ), row=2, col=1)
    fig.update_yaxes(title_text="Count", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="Ratio", rangemode="tozero", row=2, col=1)
    fig.update_annotations(font={"size": 13, "color": INK}, xanchor="left", x=0.0)
    fig = _layout(fig, "Monthly activity", height=540)
    fig.update_layout(legend={"y": -0.08})
    return fig


def homework_figure(table: PublishedTable) -> go.Figure:
    """Share of assignments reviewed, mean quantity and quality, design-checklist coverage (%)."""
    df = table.numeric
    months = list(df["month"])
    fig = go.Figure()
    series = (
        ("reviewed_share", "Assignments reviewed", "assignments", "assignments", SERIES["grey"]),
        ("mean_quantity", "Mean quantity", "clients_quantity", "clients", SERIES["blue"]),
        ("mean_quality", "Mean quality", "clients_quality", "clients", SERIES["orange"]),
        ("checklist_coverage", "Design-checklist coverage", "clients_with_homework", "clients", SERIES["green"]),
    )
    for key, name, n_key, n_label, colour in series:
        fig.add_trace(go.Scatter(
            x=months, y=_values(df[key], 100.0), name=name, mode="lines+markers",
            line={"color": colour, "width": 2, "dash": "dot" if key == "reviewed_share" else "solid"},
            marker={"size": 6},
            customdata=np.array(_counts(df[n_key]), dtype=object).reshape(-1, 1),
            hovertemplate="%{y:.1f}% (" + n_label + ": %{customdata[0]})<extra>" + name + "</extra>",
        ))
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    return _layout(fig, "Homework: review, quantity, quality and design", yaxis_title="Per cent")


def outcomes_figure(table: PublishedTable, measure: str | None) -> go.Figure:
    """Recovery, reliable improvement and reliable deterioration by discharge period (%), with n."""
    df = table.numeric
    df = df[df["period"] != "All"]
    periods = list(df["period"])
    fig = go.Figure()
    for key, name, n_key, colour in (
        ("recovery_rate", "Recovery", "caseness_at_first", SERIES["blue"]),
        ("improvement_rate", "Reliable improvement", "finished", SERIES["green"]),
        ("deterioration_rate", "Reliable deterioration", "finished", SERIES["red"]),
        ("reliable_recovery_rate", "Reliable recovery", "caseness_at_first", SERIES["blue"]),
    ):
        fig.add_trace(go.Scatter(
            x=periods, y=_values(df[key], 100.0), name=name, mode="lines+markers",
            line={"color": colour, "width": 2, "dash": "dot" if key == "reliable_recovery_rate" else "solid"}, marker={"size": 7},
            customdata=np.array(_counts(df[n_key]), dtype=object).reshape(-1, 1),
            hovertemplate="%{y:.1f}% (n %{customdata[0]})<extra>" + name + "</extra>",
        ))
    paired = bool(measure) and measure.endswith(NHS_PAIRED_SUFFIX)
    if paired:  # the national standard applies to the NHS paired definitions, not to one measure
        fig.add_hline(
            y=NHS_RECOVERY_STANDARD * 100, line={"color": SERIES["grey"], "dash": "dash", "width": 1},
            annotation_text="NHS recovery standard 50%", annotation_position="top left",
            annotation_font={"size": 11, "color": SERIES["grey"]},
        )
    if all(v is None for trace in fig.data for v in trace.y):
        fig.add_annotation(text="Every rate withheld (small numbers)", showarrow=False, x=0.5, y=0.75,
                           xref="paper", yref="paper", font={"size": 14, "color": SERIES["grey"]})
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    fig.update_xaxes(type="category", tickangle=-45)
    if measure and not paired:
        measure = f"{measure}, per measure"
    title = f"End-of-treatment outcomes ({measure})" if measure else "End-of-treatment outcomes"
    fig = _layout(fig, title + " by discharge date", yaxis_title="Per cent of clients", height=420)
    fig.update_layout(legend={"y": -0.3}, margin={"b": 120})
    return fig


_STATUS_STYLE: dict[str, tuple[str, str]] = {
    STATUS_HIGH_998: (SERIES["red"], "Flagged: outside 99.8% limits"),
    STATUS_LOW_998: (SERIES["red"], "Flagged: outside 99.8% limits"),
    STATUS_HIGH_95: (SERIES["amber"], "Warning: outside 95% limits"),
    STATUS_LOW_95: (SERIES["amber"], "Warning: outside 95% limits"),
}


def funnel_figure(panel: FunnelPanel) -> go.Figure:
    """Each unit's value against its n, with 95% and 99.8% control limits around the overall value.

    Units whose n or value is withheld (small numbers) or with too few clients are not plotted."""
    label, kind, _ = FUNNEL_METRICS[panel.metric]
    unit_name = UNIT_SINGULAR[panel.unit_type]
    df = panel.table.numeric.iloc[:-1]  # the last row is the overall row
    fig = go.Figure()
    if panel.curve is not None and panel.centre is not None:
        curve = panel.curve
        for low, high, name, dash in (
            ("lower_99_8", "upper_99_8", "99.8% limits (flag)", "dot"),
            ("lower_95", "upper_95", "95% limits (warning)", "dash"),
        ):
            for col, show in ((low, True), (high, False)):
                fig.add_trace(go.Scatter(
                    x=curve["n"], y=curve[col] * 100.0, mode="lines", name=name, legendgroup=name,
                    showlegend=show, line={"color": SERIES["grey"], "dash": dash, "width": 1.2},
                    hoverinfo="skip",
                ))
        fig.add_trace(go.Scatter(
            x=[curve["n"].min(), curve["n"].max()], y=[panel.centre * 100.0] * 2, mode="lines",
            name=f"Overall {panel.centre * 100:.1f}%", line={"color": INK, "width": 1.5}, hoverinfo="skip",
        ))
    plotted = df[df["n"].notna() & df["value"].notna() & df["lower_95"].notna()]
    groups: dict[str, list[int]] = {}
    for i, status in zip(plotted.index, plotted["status"], strict=True):
        name = _STATUS_STYLE.get(status, (SERIES["blue"], "Within limits"))[1]
        groups.setdefault(name, []).append(i)
    order = ["Within limits", "Warning: outside 95% limits", "Flagged: outside 99.8% limits"]
    colours = {"Within limits": SERIES["blue"], "Warning: outside 95% limits": SERIES["amber"],
               "Flagged: outside 99.8% limits": SERIES["red"]}
    for name in order:
        rows = plotted.loc[groups.get(name, [])]
        if rows.empty:
            continue
        units = rows["unit"].astype(str).map(plotly_text)  # imported names: text, never markup
        custom = np.column_stack([
            units,
            [f"{v * 100:.1f}" for v in rows["lower_95"]],
            [f"{v * 100:.1f}" for v in rows["upper_95"]],
            [f"{v * 100:.1f}" for v in rows["lower_99_8"]],
            [f"{v * 100:.1f}" for v in rows["upper_99_8"]],
            rows["status"].astype(str),
        ])
        flagged = name != "Within limits"
        fig.add_trace(go.Scatter(
            x=rows["n"].astype(float), y=rows["value"].astype(float) * 100.0, mode="markers+text" if flagged else "markers",
            name=name, text=units if flagged else None, textposition="middle right",
            textfont={"size": 11, "color": colours[name]},
            marker={"size": 10 if flagged else 8, "color": colours[name], "line": {"color": "white", "width": 1}},
            customdata=custom,
            hovertemplate=(
                f"<b>{unit_name} %{{customdata[0]}}</b><br>n %{{x:,}}<br>{label}: %{{y:.1f}}%<br>"
                "95% limits %{customdata[1]}-%{customdata[2]}%<br>99.8% limits %{customdata[3]}-%{customdata[4]}%"
                "<br>%{customdata[5]}<extra></extra>"
            ),
        ))
    n_label = {
        "recovery": "Finished clients at caseness at start (n)",
        "reliable_improvement": "Finished clients (n)",
        "quantity": "Clients with quantity rated (n)",
        "coverage": "Clients with homework (n)",
        "reviewed": "Clients with homework (n)",
    }[panel.metric]
    fig.update_xaxes(title_text=n_label, rangemode="tozero", showgrid=True, gridcolor=GRID)
    fig.update_yaxes(range=[0, 100], ticksuffix="%", title_text=label)
    fig = _layout(fig, f"{label} by {unit_name.lower()}", height=460)
    fig.update_layout(hovermode="closest", legend={"y": -0.2}, margin={"b": 110})
    return fig


__all__ = [
    "activity_figure",
    "empty_figure",
    "funnel_figure",
    "homework_figure",
    "outcomes_figure",
]
