"""Plotly figures of the Cohort outcomes page.

Pure functions: each takes the table the page shows beside the chart (from
:mod:`analytics.cohort_outcomes.model`) and returns a ``go.Figure`` drawn from exactly those numbers; hover
shows the exact values. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import theme
from ..config import active_settings
from ..text import plotly_text

__all__ = [
    "band_change_chart",
    "band_colors",
    "checklist_items_chart",
    "comparison_chart",
    "compliance_density",
    "compliance_scatter",
    "follow_up_chart",
    "homework_type_chart",
    "items_met_chart",
    "jacobson_truax_chart",
    "outcome_rates_chart",
    "quantity_quality_chart",
    "trajectory_chart",
    "within_client_chart",
]

# Colours and font from the one theme (analytics/theme.py).
PUBLISHED_COLOUR = theme.AS_EXPECTED
JT_COLOURS = theme.OUTCOME_COLOURS
#: The compliance scatter draws up to this many clients as SVG points (selectable by a click,
#: each an element of the page); larger cohorts as WebGL, which stays fast.
SVG_MAX_POINTS = 3000


def _better_text(measure: str) -> str:
    """ "lower is better" / "higher is better" from the measure's direction (unknown: lower)."""
    definition = active_settings().measure(measure)
    return definition.better_text if definition else "lower is better"


def _improvement_sign_text(measure: str) -> str:
    definition = active_settings().measure(measure)
    return "positive" if definition is not None and definition.higher_is_better else "negative"


def band_colors(labels: Sequence[str], compliance: str = "quantity") -> dict[str, str]:
    """Colour of each compliance band (in band order: light to dark shades of the compliance
    measure's own colour), plus grey for "All clients"."""
    return theme.compliance_band_colours(labels, compliance)


def _layout(fig: go.Figure, *, height: int = 380, x_title: str | None = None, y_title: str | None = None,
            legend: bool = True) -> go.Figure:
    theme.apply_layout(
        fig,
        height=height,
        margin=dict(l=10, r=10, t=36, b=10),
        showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, title_text=""),
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _errors(table: pd.DataFrame, value: str, low: str, high: str) -> tuple[np.ndarray, np.ndarray]:
    v = table[value].to_numpy(dtype=float)
    return table[high].to_numpy(dtype=float) - v, v - table[low].to_numpy(dtype=float)


def trajectory_chart(trajectories: pd.DataFrame, measure: str, band_labels: Sequence[str]) -> go.Figure:
    """Mean score by week since intake per band: line, 95% ribbon, n in the hover.

    Points withheld for small n (``too_few``) are not drawn.
    """
    colours = band_colors(band_labels)
    fig = go.Figure()
    shown = trajectories[~trajectories["too_few"]]
    for band in band_labels:
        rows = shown[shown["band"] == band]
        if rows.empty:
            continue
        x = rows["week"].tolist()
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=rows["ci_high"].tolist() + rows["ci_low"].tolist()[::-1],
                fill="toself",
                fillcolor=theme.rgba(colours[band], 0.18),
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=band,
                meta={"concept": "quantity band", "band": band},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=rows["mean_score"],
                mode="lines+markers",
                name=f"Quantity {band}",
                legendgroup=band,
                meta={"concept": "quantity band", "band": band},
                line=dict(color=colours[band], width=2.5),
                marker=dict(size=6),
                customdata=np.column_stack([rows["n_clients"], rows["ci_low"], rows["ci_high"]]),
                hovertemplate=(
                    f"<b>Quantity {band}</b><br>Week %{{x}}<br>Mean {measure} %{{y:.2f}}"
                    "<br>95% CI %{customdata[1]:.2f} to %{customdata[2]:.2f}<br>n = %{customdata[0]:,} clients<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(dtick=2, rangemode="tozero")
    return _layout(fig, x_title="Weeks since intake", y_title=f"Mean {measure} score ({_better_text(measure)})")


def compliance_density(
    bins: pd.DataFrame,
    compliance: str,
    measure: str,
    slope: float | None,
    intercept: float | None,
) -> go.Figure:
    """Paired clients' quantity (or quality) against their change as a 2-D histogram, for cohorts
    too large to draw one point per client (:data:`analytics.cohort_outcomes.model.MAX_SCATTER_POINTS`).

    ``bins``: one row per non-empty bin (x_low, x_high, change_low, change_high, clients) from
    :func:`analytics.cohort_outcomes.model.compliance_bins`. Each bin is a square marker at its
    centre, its colour the number of clients (a scatter trace: the page's charts use scatter and bar
    only); hover gives the bin and its count. With the OLS line of all clients."""
    label = compliance.capitalize()
    x = (bins["x_low"].to_numpy(float) + bins["x_high"].to_numpy(float)) / 2
    y = (bins["change_low"].to_numpy(float) + bins["change_high"].to_numpy(float)) / 2
    counts = bins["clients"].to_numpy(int)
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", name="Clients",
        meta={"concept": "clients per bin"},
        marker=dict(symbol="square", size=9, color=np.log10(counts) if len(counts) else [],
                    colorscale=[[0.0, theme.DENSITY_LOW], [1.0, theme.QUANTITY if compliance == "quantity" else theme.QUALITY]],
                    showscale=True, line=dict(width=0),
                    colorbar=dict(title="Clients", tickvals=[0, 1, 2, 3, 4], ticktext=["1", "10", "100", "1k", "10k"])),
        customdata=np.column_stack([bins["x_low"], bins["x_high"], bins["change_low"], bins["change_high"], counts])
        if len(counts) else None,
        hovertemplate=(f"{label} %{{customdata[0]:.0%}}-%{{customdata[1]:.0%}}<br>Change %{{customdata[2]:+.0f}} to "
                       "%{customdata[3]:+.0f} points<br>%{customdata[4]:,} clients<extra></extra>"),
    ))
    xs = np.array([0.0, 1.0]) if len(counts) else None
    return _with_fitted_line(fig, xs, slope, intercept, compliance, measure)


def compliance_scatter(
    points: pd.DataFrame,
    compliance: str,
    measure: str,
    band_labels: Sequence[str],
    slope: float | None,
    intercept: float | None,
) -> go.Figure:
    """Each paired client's quantity (or quality) against their change, with the OLS line.

    When ``points`` has a ``client_id`` column (identified viewers only:
    :func:`analytics.cohort_outcomes.model.cohort_report` leaves it out for the others) each
    point carries its client id as its customdata (Plotly text), shown in the hover and read
    back from a selection by :func:`analytics.drill_down.client_links`. Up to
    :data:`SVG_MAX_POINTS` points are drawn as SVG (each point an element a click selects);
    more as WebGL."""
    colours = band_colors(band_labels, compliance)
    fig = go.Figure()
    label = compliance.capitalize()
    identified = "client_id" in points.columns
    trace_type = go.Scatter if len(points) <= SVG_MAX_POINTS else go.Scattergl
    bands = [b for b in band_labels] + [None]
    for band in bands:
        rows = points[points["band"] == band] if band is not None else points[points["band"].isna()]
        if rows.empty:
            continue
        name = f"{label} {band}" if band is not None else f"No {compliance} band"
        client = "Client %{customdata[0]}<br>" if identified else ""
        fig.add_trace(
            trace_type(
                x=rows[compliance],
                y=rows["change"],
                mode="markers",
                name=name,
                meta={"concept": f"{compliance} band" if band is not None else "no band", "band": band},
                marker=dict(color=colours.get(band, theme.ALL_CLIENTS), size=6, opacity=0.75, line=dict(width=0)),
                customdata=[[plotly_text(c)] for c in rows["client_id"]] if identified else None,
                hovertemplate=f"{client}{label} %{{x:.1%}}<br>Change %{{y:+.1f}} points<extra>{name}</extra>",
            )
        )
    xs = np.array([points[compliance].min(), points[compliance].max()], dtype=float) if len(points) else None
    return _with_fitted_line(fig, xs, slope, intercept, compliance, measure)  # a click selects the one point under it


def _with_fitted_line(fig: go.Figure, xs: np.ndarray | None, slope: float | None, intercept: float | None,
                      compliance: str, measure: str) -> go.Figure:
    """The compliance-change chart's OLS line over ``xs`` (none without a slope or points), the
    no-change line, the axes and the layout: shared by the scatter and the 2-D histogram."""
    if slope is not None and intercept is not None and xs is not None:
        fig.add_trace(go.Scatter(
            x=xs, y=intercept + slope * xs, mode="lines", name="Fitted line",
            line=dict(color=theme.INK, width=2, dash="dash"),
            hovertemplate=f"Fitted line: {slope / 10:+.2f} points per 10 percentage points<extra></extra>",
        ))
    fig.add_hline(y=0, line=dict(color=theme.AS_EXPECTED, width=1))
    fig.update_xaxes(tickformat=".0%", range=[-0.03, 1.03])
    fig = _layout(
        fig,
        height=420,
        x_title=f"Client's homework {compliance} (mean of assignments)",
        y_title=f"{measure} change, last - first ({_improvement_sign_text(measure)} = improvement)",
    )
    return fig.update_layout(hovermode="closest")


def _relation_concept(label: str, source: str) -> str:
    """"quantity" / "quality" for this cohort's relation rows ("This cohort: quality, adjusted"), else "published"."""
    if source != "This cohort":
        return "published"
    return "quality" if label.split(":", 1)[-1].strip().startswith("qual") else "quantity"


def comparison_chart(comparison: pd.DataFrame) -> go.Figure:
    """This cohort's r beside the published yardsticks, all as r with change: helpful is the sign
    ``comparison.attrs["helpful_sign"]`` (negative on a lower-is-better measure, the default;
    positive on a higher-is-better one; :func:`analytics.cohort_outcomes.model.relation_comparison`)."""
    positive = comparison.attrs.get("helpful_sign", "negative") == "positive"
    rows = comparison.iloc[::-1].reset_index(drop=True)
    labels = rows["label"].tolist()
    concepts = [_relation_concept(label, source) for label, source in zip(labels, rows["source"], strict=True)]
    # This cohort's relations in their compliance measure's colour (quality is not quantity's blue).
    colours = [PUBLISHED_COLOUR if c == "published" else theme.compliance_colour(c) for c in concepts]
    plus, minus = _errors(rows, "r", "ci_low", "ci_high")
    n_text = [f"n = {int(n):,}" if pd.notna(n) else "published" for n in rows["n"]]
    fig = go.Figure(
        go.Scatter(
            x=rows["r"],
            y=labels,
            mode="markers",
            marker=dict(color=colours, size=11, symbol=["diamond" if c == "published" else "circle" for c in concepts]),
            error_x=dict(type="data", array=plus, arrayminus=minus, color=theme.MUTED_INK, thickness=1.5, width=4),
            customdata=np.column_stack([rows["ci_low"], rows["ci_high"], n_text]),
            text=rows["relation"],
            hovertemplate="%{y}<br>%{text}<br>r = %{x:.3f}<br>95% CI %{customdata[0]:.3f} to %{customdata[1]:.3f}<br>%{customdata[2]}<extra></extra>",
            showlegend=False,
            meta={"point_concepts": concepts},
        )
    )
    fig.add_vline(x=0, line=dict(color=theme.AS_EXPECTED, width=1))
    fig.update_xaxes(range=[-0.25, 0.75] if positive else [-0.75, 0.25], zeroline=False)
    fig.update_yaxes(automargin=True)
    fig.add_annotation(
        x=0.74 if positive else -0.74, y=1.0, yref="paper", xanchor="right" if positive else "left",
        yanchor="bottom", showarrow=False,
        text="helpful &#8594;" if positive else "&#8592; helpful", font=theme.font(12, theme.MUTED_INK),
    )
    sign = "positive" if positive else "negative"
    return _layout(fig, height=360, x_title=f"r with change ({sign} = helpful)", legend=False)


def band_change_chart(band_change: pd.DataFrame, measure: str, band_labels: Sequence[str]) -> go.Figure:
    """Mean change per compliance band with 95% intervals (withheld bands not drawn)."""
    colours = band_colors(band_labels)
    rows = band_change[~band_change["too_few"]]
    plus, minus = _errors(rows, "mean_change", "ci_low", "ci_high")
    fig = go.Figure(
        go.Bar(
            x=[f"Quantity {b}" for b in rows["band"]],
            y=rows["mean_change"],
            marker_color=[colours[b] for b in rows["band"]],
            meta={"concept": "quantity band"},
            error_y=dict(type="data", array=plus, arrayminus=minus, color=theme.INK, thickness=1.5),
            customdata=np.column_stack([rows["n"], rows["ci_low"], rows["ci_high"]]),
            text=[f"n = {n:,}" for n in rows["n"]],
            textposition="inside",
            insidetextanchor="start",
            hovertemplate="%{x}<br>Mean change %{y:+.2f} points<br>95% CI %{customdata[1]:.2f} to %{customdata[2]:.2f}"
            "<br>n = %{customdata[0]:,} paired clients<extra></extra>",
        )
    )
    return _layout(fig, height=340, y_title=f"Mean {measure} change (points)", legend=False)


def outcome_rates_chart(rates: pd.DataFrame, band_labels: Sequence[str]) -> go.Figure:
    """Recovery, reliable improvement and reliable deterioration per band, Wilson 95% intervals."""
    colours = band_colors(band_labels)
    fig = go.Figure()
    for band in [*band_labels, "All clients"]:
        rows = rates[(rates["band"] == band) & ~rates["too_few"]]
        if rows.empty:
            continue
        plus, minus = _errors(rows, "rate", "ci_low", "ci_high")
        name = f"Quantity {band}" if band != "All clients" else band
        fig.add_trace(
            go.Bar(
                x=rows["outcome"],
                y=rows["rate"],
                name=name,
                meta={"concept": "quantity band" if band != "All clients" else "all clients", "band": band},
                marker_color=colours[band],
                error_y=dict(type="data", array=plus, arrayminus=minus, color=theme.INK, thickness=1.2),
                customdata=np.column_stack([rows["count"], rows["denominator"], rows["ci_low"], rows["ci_high"]]),
                hovertemplate=f"<b>{name}</b><br>%{{x}}: %{{y:.1%}}<br>%{{customdata[0]:,}} of %{{customdata[1]:,}}"
                "<br>95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(fig, y_title="Share of clients")


def quantity_quality_chart(grid: pd.DataFrame, measure: str) -> go.Figure:
    """The 2x2 of high / low quantity and quality: mean change (colour) and recovery rate per cell."""
    levels = ["Low", "High"]
    z = np.full((2, 2), np.nan)
    text = [["", ""], ["", ""]]
    custom = np.empty((2, 2, 4), dtype=object)
    for _, row in grid.iterrows():
        i, j = levels.index(row["quantity"]), levels.index(row["quality"])
        z[i, j] = row["mean_change"]
        change = "too few clients" if row["too_few"] else f"{row['mean_change']:+.1f} points"
        recovery = "" if pd.isna(row["recovery_rate"]) else f"<br>{row['recovery_rate']:.0%} recovered"
        text[i][j] = f"<b>{change}</b>{recovery}<br>n = {int(row['n']):,}"
        custom[i, j] = [
            int(row["n"]),
            "" if pd.isna(row["ci_low"]) else f"{row['ci_low']:.2f} to {row['ci_high']:.2f}",
            "" if pd.isna(row["recovery_rate"]) else f"{row['recovery_rate']:.1%}",
            f"{int(row['recovered'])} of {int(row['caseness_at_first'])}",
        ]
    split = grid.attrs.get("split", 0.5)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"Quality < {split:.0%}", f"Quality >= {split:.0%}"],
            y=[f"Quantity < {split:.0%}", f"Quantity >= {split:.0%}"],
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=13),
            colorscale="Blues_r",
            colorbar=dict(title=dict(text="Mean change"), thickness=12),
            customdata=custom,
            hovertemplate="%{y}, %{x}<br>Mean change %{z:+.2f} points (95% CI %{customdata[1]})"
            "<br>Recovery %{customdata[2]} (%{customdata[3]})<br>n = %{customdata[0]:,}<extra></extra>",
            xgap=3,
            ygap=3,
        )
    )
    return _layout(fig, height=340, legend=False)


def items_met_chart(items_met: pd.DataFrame) -> go.Figure:
    """Mean completion by the number of design-checklist items met (0-5), 95% intervals."""
    rows = items_met[~items_met["too_few"]]
    plus, minus = _errors(rows, "mean_quantity", "quantity_ci_low", "quantity_ci_high")
    fig = go.Figure(
        go.Scatter(
            x=rows["items_met"],
            y=rows["mean_quantity"],
            mode="lines+markers",
            line=dict(color=theme.QUANTITY, width=2.5),
            marker=dict(size=8),
            meta={"concept": "quantity"},
            error_y=dict(type="data", array=plus, arrayminus=minus, color=theme.QUANTITY, thickness=1.5),
            customdata=np.column_stack([rows["reviewed_assignments"], rows["n_clients"], rows["quantity_ci_low"], rows["quantity_ci_high"]]),
            hovertemplate="%{x} of 5 items met<br>Completion %{y:.1%}<br>95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%}"
            "<br>%{customdata[0]:,} reviewed assignments, %{customdata[1]:,} clients<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(dtick=1, range=[-0.4, 5.4])
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, height=340, x_title="Design-checklist items met (of 5)", y_title="Mean completion (quantity)", legend=False)


def checklist_items_chart(items: pd.DataFrame) -> go.Figure:
    """Completion with each checklist item met vs not met (dumbbell), 95% intervals."""
    fig = go.Figure()
    for side, colour, name in (("not_met", theme.AS_EXPECTED, "Not met"), ("met", theme.DESIGN_CHECKLIST, "Met")):
        value = f"completion_{side}"
        plus, minus = _errors(items, value, f"{value}_ci_low", f"{value}_ci_high")
        fig.add_trace(
            go.Scatter(
                x=items[value],
                y=items["item"],
                mode="markers",
                name=name,
                marker=dict(color=colour, size=11, line=dict(color=theme.MUTED_INK, width=1)),
                error_x=dict(type="data", array=plus, arrayminus=minus, color=colour, thickness=1.5),
                customdata=np.column_stack([items[f"reviewed_{side}"], items[f"clients_{side}"]]),
                hovertemplate=f"%{{y}}: {name.lower()}<br>Completion %{{x:.1%}}<br>%{{customdata[0]:,}} reviewed assignments, "
                "%{customdata[1]:,} clients<extra></extra>",
            )
        )
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(automargin=True, autorange="reversed")
    return _layout(fig, height=340, x_title="Mean completion (quantity)")


def homework_type_chart(types: pd.DataFrame) -> go.Figure:
    """Completion and quality by homework type (withheld types not drawn), 95% intervals."""
    rows = types[~types["too_few"]].iloc[::-1]
    fig = go.Figure()
    for what, colour, name in (("quality", theme.QUALITY, "Quality"), ("quantity", theme.QUANTITY, "Completion (quantity)")):
        plus, minus = _errors(rows, f"mean_{what}", f"{what}_ci_low", f"{what}_ci_high")
        n_col = "reviewed_assignments" if what == "quantity" else "quality_rated"
        fig.add_trace(
            go.Bar(
                y=rows["label"],
                x=rows[f"mean_{what}"],
                orientation="h",
                name=name,
                meta={"concept": what},
                marker_color=colour,
                error_x=dict(type="data", array=plus, arrayminus=minus, color=theme.INK, thickness=1.2),
                customdata=np.column_stack([rows[n_col], rows["n_clients"]]),
                hovertemplate=f"%{{y}}<br>{name} %{{x:.1%}}<br>%{{customdata[0]:,}} assignments, %{{customdata[1]:,}} clients<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    return _layout(fig, height=max(320, 48 * len(rows) + 80), x_title="Mean fraction (0-100%)")


def within_client_chart(coefficients: pd.DataFrame) -> go.Figure:
    """Within- and between-client coefficients with 95% intervals, one panel per model (stacked)."""
    models = list(dict.fromkeys(coefficients["model"]))
    spacing = 0.32 if len(models) <= 2 else 0.5 / len(models)
    fig = make_subplots(rows=len(models), cols=1, subplot_titles=models, vertical_spacing=spacing)
    for row_no, model in enumerate(models, start=1):
        rows = coefficients[coefficients["model"] == model]
        plus, minus = _errors(rows, "estimate", "ci_low", "ci_high")
        fig.add_trace(
            go.Scatter(
                x=rows["estimate"],
                y=rows["effect"],
                mode="markers",
                marker=dict(color=[theme.QUANTITY, theme.tint(theme.QUANTITY, 0.5)][: len(rows)], size=11),
                error_x=dict(type="data", array=plus, arrayminus=minus, color=theme.MUTED_INK, thickness=1.5, width=4),
                customdata=np.column_stack([rows["ci_low"], rows["ci_high"], rows["p_value"], rows["unit"], rows["intervals"], rows["clients"]]),
                hovertemplate="%{y}<br>%{x:+.3f} %{customdata[3]}<br>95% CI %{customdata[0]:.3f} to %{customdata[1]:.3f}"
                "<br>p = %{customdata[2]:.2g}<br>%{customdata[4]:,} intervals, %{customdata[5]:,} clients<extra></extra>",
                showlegend=False,
            ),
            row=row_no,
            col=1,
        )
        fig.add_vline(x=0, line=dict(color=theme.AS_EXPECTED, width=1), row=row_no, col=1)
        fig.update_xaxes(title_text=rows["unit"].iloc[0], title_font_size=12, row=row_no, col=1)
        fig.update_yaxes(autorange="reversed", range=None, row=row_no, col=1)
    fig.update_annotations(font_size=13, x=0, xanchor="left")
    fig = _layout(fig, height=max(420, 190 * len(models)), legend=False)
    fig.update_layout(margin=dict(t=40))
    return fig


def follow_up_chart(follow_up: pd.DataFrame, measure: str, band_labels: Sequence[str]) -> go.Figure:
    """Mean score at intake, end of treatment and follow-up per band, for clients with a follow-up."""
    colours = band_colors(band_labels)
    fig = go.Figure()
    for band in band_labels:
        rows = follow_up[(follow_up["band"] == band) & ~follow_up["too_few"]]
        if rows.empty:
            continue
        plus, minus = _errors(rows, "mean_score", "ci_low", "ci_high")
        fig.add_trace(
            go.Scatter(
                x=rows["time_point"],
                y=rows["mean_score"],
                mode="lines+markers",
                name=f"Quantity {band}",
                meta={"concept": "quantity band", "band": band},
                line=dict(color=colours[band], width=2.5),
                marker=dict(size=8),
                error_y=dict(type="data", array=plus, arrayminus=minus, color=colours[band], thickness=1.5),
                customdata=np.column_stack([rows["n"], rows["ci_low"], rows["ci_high"]]),
                hovertemplate=f"<b>Quantity {band}</b><br>%{{x}}: mean {measure} %{{y:.2f}}"
                "<br>95% CI %{customdata[1]:.2f} to %{customdata[2]:.2f}<br>n = %{customdata[0]:,} clients<extra></extra>",
            )
        )
    return _layout(fig, height=360, y_title=f"Mean {measure} score ({_better_text(measure)})")


def jacobson_truax_chart(categories: pd.DataFrame) -> go.Figure:
    """Share of paired clients per Jacobson-Truax category, one bar per measure."""
    fig = go.Figure()
    for category, colour in JT_COLOURS.items():
        rows = categories[categories["category"] == category]
        if rows.empty:
            continue
        fig.add_trace(
            go.Bar(
                y=rows["measure"],
                x=rows["share"],
                orientation="h",
                name=category.capitalize(),
                marker_color=colour,
                text=[f"{s:.0%}" if s >= 0.04 else "" for s in rows["share"]],
                textposition="inside",
                customdata=np.column_stack([rows["clients"], rows["paired"]]),
                hovertemplate=f"%{{y}}: {category}<br>%{{x:.1%}} (%{{customdata[0]:,}} of %{{customdata[1]:,}} paired clients)<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=max(200, 70 * categories["measure"].nunique() + 110), x_title="Share of paired clients")
