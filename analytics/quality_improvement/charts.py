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

from .. import theme
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
    flag_summary,
)

NHS_RECOVERY_STANDARD = 0.5  # clinical-reference.md, "Outcome definitions": national standard 50%


def _layout(fig: go.Figure, title: str, *, height: int = 380, yaxis_title: str | None = None) -> go.Figure:
    theme.apply_layout(
        fig,
        height=height,
        title={"text": title, "x": 0.0, "xref": "paper", "xanchor": "left", "font": theme.font(theme.TITLE_SIZE)},
        margin={"l": 64, "r": 24, "t": 56, "b": 88},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0, "title": None},
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=False, ticks="outside", tickcolor=theme.GRID)
    fig.update_yaxes(zeroline=False)
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
                       font=theme.font(14, theme.MUTED_INK))
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
        ("active_clients", "Active clients", theme.CLIENTS),
        ("sessions_attended", "Sessions attended", theme.SESSION_ATTENDED),
        ("assignments", "Assignments set", theme.ASSIGNMENTS),
    ):
        fig.add_trace(go.Scatter(
            x=months, y=_values(df[key]), name=name, mode="lines+markers",
            line={"color": colour, "width": 2}, marker={"size": 6},
            hovertemplate="%{y:,.0f}<extra>" + name + "</extra>",
        ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=months, y=_values(df["assignments_per_session"]), name="Assignments per attended session",
        mode="lines+markers", line={"color": theme.ASSIGNMENTS, "width": 2, "dash": "dash"}, marker={"size": 6},
        customdata=np.array(_counts(df["sessions_attended"]), dtype=object).reshape(-1, 1),
        hovertemplate="%{y:.2f} (sessions: %{customdata[0]})<extra>Per attended session</extra>",
        showlegend=False,
    ), row=2, col=1)
    fig.update_yaxes(title_text="Count", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="Ratio", rangemode="tozero", row=2, col=1)
    fig.update_annotations(font=theme.font(theme.FONT_SIZE), xanchor="left", x=0.0)
    fig = _layout(fig, "Monthly activity", height=540)
    fig.update_layout(legend={"y": -0.08})
    return fig


def homework_figure(table: PublishedTable) -> go.Figure:
    """Share of assignments reviewed, mean quantity and quality, design-checklist coverage (%)."""
    df = table.numeric
    months = list(df["month"])
    fig = go.Figure()
    series = (
        ("reviewed_share", "Assignments reviewed", "assignments", "assignments", theme.ASSIGNMENTS),
        ("mean_quantity", "Mean quantity", "clients_quantity", "clients", theme.QUANTITY),
        ("mean_quality", "Mean quality", "clients_quality", "clients", theme.QUALITY),
        ("checklist_coverage", "Design-checklist coverage", "clients_with_homework", "clients", theme.DESIGN_CHECKLIST),
    )
    for key, name, n_key, n_label, colour in series:
        fig.add_trace(go.Scatter(
            x=months, y=_values(df[key], 100.0), name=name, mode="lines+markers",
            meta={"concept": key.removeprefix("mean_")},
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
        ("recovery_rate", "Recovery", "caseness_at_first", theme.RECOVERED),
        ("improvement_rate", "Reliable improvement", "finished", theme.BETTER),
        ("deterioration_rate", "Reliable deterioration", "finished", theme.WORSE),
        ("reliable_recovery_rate", "Reliable recovery", "caseness_at_first", theme.RECOVERED),
    ):
        fig.add_trace(go.Scatter(
            x=periods, y=_values(df[key], 100.0), name=name, mode="lines+markers",
            line={"color": colour, "width": 2, "dash": "dot" if key == "reliable_recovery_rate" else "solid"},
            marker={"size": 7, "symbol": "square" if "recovery" in key else "circle"},
            customdata=np.array(_counts(df[n_key]), dtype=object).reshape(-1, 1),
            hovertemplate="%{y:.1f}% (n %{customdata[0]})<extra>" + name + "</extra>",
        ))
    paired = bool(measure) and measure.endswith(NHS_PAIRED_SUFFIX)
    if paired:  # the national standard applies to the NHS paired definitions, not to one measure
        fig.add_hline(
            y=NHS_RECOVERY_STANDARD * 100, line={"color": theme.MUTED_INK, "dash": "dash", "width": 1},
            annotation_text="NHS recovery standard 50%", annotation_position="top left",
            annotation_font=theme.font(theme.SMALL_SIZE, theme.MUTED_INK),
        )
    if all(v is None for trace in fig.data for v in trace.y):
        fig.add_annotation(text="Every rate withheld (small numbers)", showarrow=False, x=0.5, y=0.75,
                           xref="paper", yref="paper", font=theme.font(14, theme.MUTED_INK))
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    fig.update_xaxes(type="category", tickangle=-45)
    if measure and not paired:
        measure = f"{measure}, per measure"
    title = f"End-of-treatment outcomes ({measure})" if measure else "End-of-treatment outcomes"
    fig = _layout(fig, title + " by discharge date", yaxis_title="Per cent of clients", height=420)
    fig.update_layout(legend={"y": -0.3}, margin={"b": 120})
    return fig


# Every funnel metric is one where a higher value is better (recovery, improvement, quantity,
# checklist coverage, homework reviewed): above the limits is better than the network.
_DIRECTION: dict[str, str] = {
    STATUS_HIGH_998: "better", STATUS_HIGH_95: "better", STATUS_LOW_998: "worse", STATUS_LOW_95: "worse",
}
_GROUPS: tuple[tuple[str, str, str, bool], ...] = (  # name, direction, colour, beyond 99.8%
    ("Within limits (as expected)", "as expected", theme.AS_EXPECTED, False),
    ("Better than the network: outside 95% limits", "better", theme.BETTER, False),
    ("Better than the network: outside 99.8% limits (flag)", "better", theme.BETTER, True),
    ("Worse than the network: outside 95% limits", "worse", theme.WORSE, False),
    ("Worse than the network: outside 99.8% limits (flag)", "worse", theme.WORSE, True),
)


def funnel_direction(status: str) -> str:
    """"better" / "worse" than the network beyond the limits, or "as expected" (within them)."""
    return _DIRECTION.get(status, "as expected")


def chance_note(panel: FunnelPanel) -> str:
    """The funnel's caption: its flags and warnings beside what chance alone would give if every
    unit were like the network (:func:`analytics.quality_improvement.model.flag_summary`: tests x
    0.2% beyond the 99.8% limits, tests x 4.8% between the 95% and 99.8% limits)."""
    s = flag_summary([panel])
    return (f"{s['tests']} {UNIT_SINGULAR[panel.unit_type].lower()}s compared: {s['flags']} beyond the 99.8% limits, "
            f"{s['warnings']} between the 95% and 99.8% limits.<br>If all were like the network, chance alone would "
            f"give about {s['expected_false_flags']:.2f} and {s['expected_false_warnings']:.1f}.")


def _label_positions(values: list[float]) -> list[str]:
    """Label positions that alternate above and below by value, so neighbouring labels do not collide."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    positions = [""] * len(values)
    for rank, i in enumerate(order):
        positions[i] = "top center" if rank % 2 else "bottom center"
    return positions


def funnel_figure(panel: FunnelPanel) -> go.Figure:
    """Each unit's value against its n, with 95% and 99.8% control limits around the overall value.

    Points are coloured by direction: better than the network (above the limits), worse (below),
    or within the limits (grey); beyond the 99.8% limits the marker is larger with a dark ring.
    Clinics are all labelled; therapists and programmes (pseudonyms) only when outside the
    limits, above and below in turn. A caption under the plot says how many units chance alone
    would put outside the limits (:func:`chance_note`).

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
                    showlegend=show, line={"color": theme.LIMITS, "dash": dash, "width": 1.2},
                    hoverinfo="skip",
                ))
        fig.add_trace(go.Scatter(
            x=[curve["n"].min(), curve["n"].max()], y=[panel.centre * 100.0] * 2, mode="lines",
            name=f"Network {panel.centre * 100:.1f}%", line={"color": theme.NETWORK, "width": 1.5}, hoverinfo="skip",
        ))
    plotted = df[df["n"].notna() & df["value"].notna() & df["lower_95"].notna()]
    label_all = panel.unit_type == "clinic"
    for name, direction, colour, flagged in _GROUPS:
        mask = [funnel_direction(st) == direction and (st in (STATUS_HIGH_998, STATUS_LOW_998)) == flagged
                for st in plotted["status"]]
        rows = plotted[mask]
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
        labelled = label_all or direction != "as expected"
        y = [float(v) * 100.0 for v in rows["value"]]
        fig.add_trace(go.Scatter(
            x=rows["n"].astype(float), y=y, mode="markers+text" if labelled else "markers",
            name=name, text=list(units) if labelled else None,
            textposition=_label_positions(y) if labelled else None,
            textfont=theme.font(theme.SMALL_SIZE, theme.INK if direction == "as expected" else colour),
            marker={"size": 12 if flagged else 9, "color": colour,
                    "line": {"color": theme.INK if flagged else theme.PAPER, "width": 1.5 if flagged else 1}},
            customdata=custom,
            cliponaxis=False,
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
    top_n = float(plotted["n"].max()) if len(plotted) else None
    if panel.curve is not None and len(panel.curve):
        top_n = max(top_n or 0.0, float(panel.curve["n"].max()))
    # Room at the right for the labels of the largest units (they are never cut at the edge).
    fig.update_xaxes(title_text=n_label, showgrid=True, gridcolor=theme.GRID,
                     range=[0, top_n * 1.1] if top_n else None, rangemode="tozero")
    fig.update_yaxes(range=[-4, 104], ticksuffix="%", title_text=label)
    fig = _layout(fig, f"{label} by {unit_name.lower()}", height=480)
    fig.add_annotation(text=chance_note(panel), showarrow=False, x=0.0, xref="paper", y=1.0, yref="paper",
                       xanchor="left", yanchor="bottom", yshift=2, align="left",
                       font=theme.font(theme.SMALL_SIZE, theme.MUTED_INK))
    fig.update_layout(hovermode="closest", legend={"y": -0.2}, margin={"b": 120, "r": 48, "t": 90})
    return fig


__all__ = [
    "activity_figure",
    "chance_note",
    "empty_figure",
    "funnel_direction",
    "funnel_figure",
    "homework_figure",
    "outcomes_figure",
]
