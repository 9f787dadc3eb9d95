"""Plotly figures of the Client review page (pure functions: DataFrames in, go.Figure out).

The main chart puts, on one time axis: each measure's scores on its shaded severity bands
with the caseness line (follow-up scores after discharge drawn differently, PHQ-9 item 9
above 0 ringed in red), the weekly homework quantity and quality (0-100%) with the number of
assignments, and the sessions (attended or missed). The discharge date is marked. Values
are passed as plain lists (not NumPy arrays) so the figure JSON holds the stored numbers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import theme
from ..config import MeasureDefinition, Settings, active_settings

COUNT_COLOUR = theme.rgba(theme.ASSIGNMENTS, 0.3)
EXPECTED_FILL = theme.rgba(theme.EXPECTED, theme.EXPECTED_FILL_ALPHA)
# Room above a measure's maximum (share of its range, at least 1.5 points): a maximum score and
# its item-9 risk ring are drawn whole, not cut at the top edge.
Y_HEADROOM = 0.08
LEGEND_MARGIN_PX = 130  # x-axis dates and the legend under the plot
WEEK_MS = 7 * 24 * 3600 * 1000


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _num(value: Any) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    f = float(value)
    return int(f) if f.is_integer() else f


def _first(fig: go.Figure, group: str) -> bool:
    """True when no trace of this legend group is in the figure yet (one legend entry per concept)."""
    return not any(t.legendgroup == group for t in fig.data)


def y_range(definition: MeasureDefinition) -> list[float]:
    """The score axis of a measure: half a point below its minimum, headroom above its maximum."""
    span = definition.max_score - definition.min_score
    return [definition.min_score - 0.5, definition.max_score + max(1.5, Y_HEADROOM * span)]


def _add_bands(fig: go.Figure, definition: MeasureDefinition, row: int, measure: str) -> None:
    """Shaded severity bands with their labels in the right margin; the caseness line (named in the
    legend, not written over the data)."""
    bands = sorted(definition.bands, key=lambda b: b.lower)
    fills = theme.severity_fills(len(bands), higher_is_better=definition.higher_is_better)
    for i, band in enumerate(bands):
        upper = bands[i + 1].lower if i + 1 < len(bands) else definition.max_score
        low = max(band.lower, definition.min_score)
        fig.add_hrect(y0=low, y1=upper, fillcolor=fills[i], opacity=theme.SEVERITY_OPACITY, line_width=0,
                      layer="below", row=row, col=1, exclude_empty_subplots=False)
        fig.add_annotation(
            x=1.0, xref="x domain", xanchor="left", xshift=6, y=(low + upper) / 2, yref="y",
            text=band.label, showarrow=False, font=theme.font(theme.SMALL_SIZE, theme.BAND_LABEL), row=row, col=1,
            exclude_empty_subplots=False,
        )
    fig.add_hline(
        y=definition.caseness_threshold, line_dash="dash", line_color=theme.CASENESS, line_width=1.2,
        row=row, col=1, exclude_empty_subplots=False,
    )
    fig.add_trace(  # the caseness line's legend entry (no data: the line is the shape above)
        go.Scatter(x=[None], y=[None], mode="lines", name="Caseness threshold",
                   legendgroup="caseness", showlegend=_first(fig, "caseness"), line={"color": theme.CASENESS, "dash": "dash", "width": 1.2},
                   hoverinfo="skip"),
        row=row, col=1,
    )


def _score_traces(fig: go.Figure, measure: str, scores: pd.DataFrame, row: int, *, show_risk: bool) -> None:
    s = scores[scores["measure"] == measure].sort_values("administered_date")
    own_colour, own_symbol = theme.measure_colour(measure), theme.measure_symbol(measure)
    for follow_up, name, colour, symbol, mode in (
        (False, measure, own_colour, own_symbol, "lines+markers"),
        (True, f"{measure} follow-up (after discharge)", theme.FOLLOW_UP, f"{own_symbol}-open", "markers"),
    ):
        part = s[s["follow_up"].astype(bool) == follow_up]
        if part.empty:
            continue
        items = part["item_9"] if "item_9" in part else pd.Series([None] * len(part), index=part.index)
        custom = [
            [band or "", int(week), "" if pd.isna(item) else f"<br>item 9: {int(item)}"]
            for band, week, item in zip(part["band"], part["week"], items, strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=[_iso(d) for d in part["administered_date"]],
                y=[_num(v) for v in part["total_score"]],
                mode=mode,
                name=name,
                legendgroup=measure,
                meta={"concept": "follow-up" if follow_up else "measure", "measure": measure},
                marker={"color": colour, "size": 8 if not follow_up else 10, "symbol": symbol,
                        "line": {"width": 1.5, "color": colour}},
                line={"color": colour, "width": 2},
                customdata=custom,
                hovertemplate=(
                    f"<b>{measure}</b>{' follow-up' if follow_up else ''}: %{{y}} (%{{customdata[0]}})"
                    "<br>%{x|%Y-%m-%d}, week %{customdata[1]} since intake%{customdata[2]}<extra></extra>"
                ),
            ),
            row=row, col=1,
        )
    if show_risk and "item_9" in s:
        risky = s[s["item_9"].fillna(0).astype(int) > 0]
        if len(risky):
            fig.add_trace(
                go.Scatter(
                    x=[_iso(d) for d in risky["administered_date"]],
                    y=[_num(v) for v in risky["total_score"]],
                    mode="markers",
                    name="PHQ-9 item 9 above 0",
                    marker={"size": 17, "symbol": "circle-open", "color": theme.RISK, "line": {"width": 2.5}},
                    customdata=[[int(v)] for v in risky["item_9"]],
                    hovertemplate="<b>Risk: item 9 = %{customdata[0]}</b><br>%{x|%Y-%m-%d}<extra></extra>",
                ),
                row=row, col=1,
            )


def _expected_traces(fig: go.Figure, track: Any, row: int) -> None:
    """The expected curve for the client's intake score with its 10th-90th percentile band, the
    off-track scores ringed, and where the off-track run began."""
    band = track.curve
    if band is None or band.empty:
        return
    x = [_iso(d) for d in band["week_start"]]
    weeks = [int(w) for w in band["week"]]
    show_range = _first(fig, "usual-range")
    fig.add_trace(go.Scatter(x=x, y=[float(v) for v in band["high"]], mode="lines", line={"width": 0},
                             hoverinfo="skip", showlegend=False, legendgroup="usual-range"),
                  row=row, col=1)
    fig.add_trace(
        go.Scatter(x=x, y=[float(v) for v in band["low"]], mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor=EXPECTED_FILL, name="Usual range (10th-90th percentile)",
                   legendgroup="usual-range", showlegend=show_range,
                   customdata=[[w, float(h)] for w, h in zip(weeks, band["high"], strict=True)],
                   hovertemplate="Week %{customdata[0]}: clients with this intake score usually "
                   "%{y:.0f}-%{customdata[1]:.0f}<extra></extra>"),
        row=row, col=1,
    )
    fig.add_trace(
        go.Scatter(x=x, y=[float(v) for v in band["expected"]], mode="lines", name="Expected score",
                   legendgroup="expected", showlegend=_first(fig, "expected"), line={"color": theme.EXPECTED, "width": 1.6, "dash": "dash"},
                   customdata=[[w] for w in weeks],
                   hovertemplate="Week %{customdata[0]}: expected %{y:.1f}<extra></extra>"),
        row=row, col=1,
    )
    points = track.points
    if points is not None and len(points) and points["off_track"].astype(bool).any():
        off = points[points["off_track"].astype(bool)]
        fig.add_trace(
            go.Scatter(x=[_iso(d) for d in off["administered_date"]], y=[_num(v) for v in off["total_score"]],
                       mode="markers", legendgroup=f"off-track-{track.measure}",
                       name=(f"{track.measure} off track since week {track.since_week}"
                             if getattr(track, "since_date", None) is not None
                             else f"{track.measure} off track (outside the usual range)"),
                       marker={"size": 15, "symbol": "circle-open", "color": theme.OFF_TRACK, "line": {"width": 2}},
                       customdata=[[int(w), float(e)] for w, e in zip(off["week"], off["expected"], strict=True)],
                       hovertemplate="Off track in week %{customdata[0]}: %{y} (expected %{customdata[1]:.0f})"
                       "<extra></extra>"),
            row=row, col=1,
        )
    if getattr(track, "since_date", None) is not None:
        d = _iso(track.since_date)
        # named in the legend ("... off track since week N"), not written over the scores
        fig.add_vline(x=d, line={"color": theme.OFF_TRACK, "width": 1.2, "dash": "dot"}, row=row, col=1)


def _gain_traces(fig: go.Figure, measure: str, gains: pd.DataFrame, row: int) -> None:
    """Sudden gains: a marker on the score after each gain, with the homework of the weeks before it."""
    part = gains[gains["measure"] == measure]
    if part.empty:
        return
    custom = []
    for g in part.itertuples(index=False):
        quantity = "no reviewed homework" if g.quantity is None or pd.isna(g.quantity) else f"quantity {g.quantity:.0%}"
        custom.append([f"{g.before_score:g} \u2192 {g.after_score:g}", f"{g.magnitude:g}", str(g.homework_weeks),
                       int(g.assignments), int(g.reviewed), quantity, " (reversed later)" if g.reversed else ""])
    fig.add_trace(
        go.Scatter(
            x=[_iso(d) for d in part["after_date"]], y=[_num(v) for v in part["after_score"]],
            mode="markers+text", name="Sudden gain", legendgroup="sudden-gain", text=["gain"] * len(part),
            showlegend=_first(fig, "sudden-gain"),
            textposition="bottom center", textfont=theme.font(theme.SMALL_SIZE, theme.SUDDEN_GAIN),
            marker={"size": 13, "symbol": "star", "color": theme.SUDDEN_GAIN, "line": {"width": 1, "color": theme.PAPER}},
            customdata=custom,
            hovertemplate=("<b>Sudden gain</b> %{customdata[0]} (%{customdata[1]} points)%{customdata[6]}"
                           "<br>Homework of weeks %{customdata[2]}: %{customdata[3]} set, %{customdata[4]} reviewed, "
                           "%{customdata[5]}<extra></extra>"),
        ),
        row=row, col=1,
    )


# Weeks drawn one by one; a longer series (an implausible intake such as year 0001 gives
# 100,000 weeks) keeps only the weeks with homework, with a gap where weeks are skipped.
MAX_CHART_WEEKS = 520


def _weeks_to_draw(weekly: pd.DataFrame) -> pd.DataFrame:
    if len(weekly) <= MAX_CHART_WEEKS:
        return weekly
    busy = weekly[(weekly["assignments"] > 0) | weekly["quantity"].notna() | weekly["quality"].notna()]
    busy = busy.sort_values("week").reset_index(drop=True)
    gaps = busy[busy["week"].diff().shift(-1).fillna(1) > 1]
    if gaps.empty:
        return busy
    # One empty point the week after each kept week that is followed by a skip breaks the lines.
    breaks = pd.DataFrame({
        "week": gaps["week"] + 1,
        "week_start": pd.to_datetime(gaps["week_start"]) + pd.Timedelta(days=7),
        "assignments": 0, "reviewed": 0, "quantity": None, "quality": None,
    })
    return pd.concat([busy, breaks], ignore_index=True).sort_values("week").reset_index(drop=True)


def _homework_traces(fig: go.Figure, weekly: pd.DataFrame, intake: date | None, row: int) -> None:
    weekly = _weeks_to_draw(weekly)
    weeks = [int(w) for w in weekly["week"]]
    starts = [_iso(d) for d in weekly["week_start"]]
    period = {"xperiod": WEEK_MS, "xperiodalignment": "middle"}
    if intake is not None:
        period["xperiod0"] = intake.isoformat()
    fig.add_trace(
        go.Bar(
            x=starts,
            y=[int(v) for v in weekly["assignments"]],
            name="Assignments set",
            marker={"color": COUNT_COLOUR, "line": {"width": 0}},
            customdata=[[w, int(r)] for w, r in zip(weeks, weekly["reviewed"], strict=True)],
            hovertemplate=(
                "Week %{customdata[0]} (from %{x|%Y-%m-%d}): %{y} assignment(s) set, "
                "%{customdata[1]} reviewed<extra></extra>"
            ),
            **period,
        ),
        row=row, col=1, secondary_y=True,
    )
    for column, name, colour, symbol in (
        ("quantity", "Quantity (how much was done)", theme.QUANTITY, "circle"),
        ("quality", "Quality (how well)", theme.QUALITY, "square"),
    ):
        values = [None if pd.isna(v) else float(v) * 100 for v in weekly[column]]
        fig.add_trace(
            go.Scatter(
                x=starts,
                y=values,
                mode="lines+markers",
                name=name,
                meta={"concept": column},
                connectgaps=False,
                line={"color": colour, "width": 2},
                marker={"color": colour, "size": 7, "symbol": symbol},
                customdata=[[w] for w in weeks],
                hovertemplate=(
                    f"Week %{{customdata[0]}} (from %{{x|%Y-%m-%d}}): {name.split(' (')[0].lower()} "
                    "%{y:.1f}%<extra></extra>"
                ),
                **period,
            ),
            row=row, col=1, secondary_y=False,
        )


def _session_traces(fig: go.Figure, sessions: pd.DataFrame, row: int) -> None:
    groups = (
        ("Session attended", sessions["attended"].astype(bool) & ~sessions["upcoming"].astype(bool),
         theme.SESSION_ATTENDED, "circle"),
        ("Session missed", ~sessions["attended"].astype(bool) & ~sessions["upcoming"].astype(bool),
         theme.SESSION_MISSED, "x-thin-open"),
        ("Session upcoming", sessions["upcoming"].astype(bool), theme.SESSION_UPCOMING, "circle-open"),
    )
    for name, mask, colour, symbol in groups:
        part = sessions[mask]
        if part.empty:
            continue
        label = name.split(" ")[1]
        fig.add_trace(
            go.Scatter(
                x=[_iso(d) for d in part["session_date"]],
                y=[0] * len(part),
                mode="markers",
                name=name,
                marker={"color": colour, "size": 10, "symbol": symbol, "line": {"width": 2, "color": colour}},
                customdata=[["" if pd.isna(n) else f"Session {int(n)}, ", int(w)]
                            for n, w in zip(part["session_number"], part["week"], strict=True)],
                hovertemplate=f"%{{customdata[0]}}%{{x|%Y-%m-%d}}: {label} (week %{{customdata[1]}})<extra></extra>",
            ),
            row=row, col=1,
        )


def client_timeline(
    scores: pd.DataFrame,
    weekly: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    intake_date: date | None,
    discharge_date: date | None,
    settings: Settings | None = None,
    height: int | None = None,
    tracks: Any = (),
    gains: pd.DataFrame | None = None,
) -> go.Figure | None:
    """The Client review chart, or None when there is nothing to draw (no scores, homework or sessions).

    ``tracks``: per measure, the course against the expected curve
    (:class:`analytics.expected_response.Track`): its band is drawn behind the scores and the
    off-track scores ringed. ``gains``: sudden gains (:func:`analytics.sudden_gains.client_gains`),
    marked on the score after each gain with the homework of the weeks before it.

    ``scores``: measure, administered_date, total_score, item_9, follow_up, week, band.
    ``weekly``: week, week_start, assignments, reviewed, quantity, quality (fractions 0-1).
    ``sessions``: session_date, session_number, attended, week, upcoming.
    """
    settings = settings or active_settings()
    order = {m.name: i for i, m in enumerate(settings.measures)}
    measures = sorted(scores["measure"].unique(), key=lambda m: (order.get(m, len(order)), m)) if len(scores) else []
    has_homework = len(weekly) > 0
    has_sessions = len(sessions) > 0
    if not measures and not has_homework and not has_sessions:
        return None

    titles: list[str] = []
    heights: list[float] = []
    specs: list[list[dict[str, Any]]] = []
    for m in measures:
        definition = settings.measure(m)
        titles.append(f"{m}: {definition.description} (total score; {definition.better_text}; "
                      f"dashed line: {definition.caseness_text})" if definition else m)
        heights.append(1.0)
        specs.append([{}])
    if has_homework:
        titles.append("Homework by week since intake: quantity and quality (%), assignments set (bars)")
        heights.append(0.85)
        specs.append([{"secondary_y": True}])
    if has_sessions:
        titles.append("Sessions")
        heights.append(0.22)
        specs.append([{}])
    rows = len(heights)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.075 if rows > 2 else 0.1,
        row_heights=heights, subplot_titles=titles, specs=specs,
    )
    for i, m in enumerate(measures, start=1):
        definition = settings.measure(m)
        if definition is not None:
            _add_bands(fig, definition, i, m)
            fig.update_yaxes(range=y_range(definition), row=i, col=1)
        track = next((t for t in tracks or () if t.measure == m), None)
        if track is not None:
            _expected_traces(fig, track, i)
        _score_traces(fig, m, scores, i, show_risk=definition is not None and definition.key == "PHQ9")
        if gains is not None and len(gains):
            _gain_traces(fig, m, gains, i)
        fig.update_yaxes(title_text="score", row=i, col=1)
    row = len(measures)
    if has_homework:
        row += 1
        _homework_traces(fig, weekly, intake_date, row)
        fig.update_yaxes(title_text="% of assignment", range=[-4, 104], ticksuffix="%", row=row, col=1,
                         secondary_y=False)
        top = max(int(weekly["assignments"].max()), 1)
        fig.update_yaxes(title_text="assignments set", range=[0, top * 2.2], showgrid=False, tickmode="linear",
                         tick0=0, dtick=max(1, -(-top // 2)), row=row, col=1, secondary_y=True)
    if has_sessions:
        row += 1
        _session_traces(fig, sessions, row)
        fig.update_yaxes(visible=False, range=[-1, 1], row=row, col=1)

    if discharge_date is not None:
        d = discharge_date.isoformat()
        fig.add_shape(type="line", x0=d, x1=d, xref="x", y0=0, y1=1, yref="paper",
                      line={"color": theme.INK, "width": 1.5, "dash": "dot"})
        fig.add_trace(go.Scatter(  # named in the legend, not written over the data or the band labels
            x=[None], y=[None], mode="lines", name=f"Discharge {d}", legendgroup="discharge",
            line={"color": theme.INK, "width": 1.5, "dash": "dot"}, hoverinfo="skip"), row=1, col=1)
    if intake_date is not None:
        fig.update_xaxes(range=_x_range(intake_date, scores, weekly, sessions, discharge_date))
    for annotation in fig.layout.annotations:
        if annotation.text in titles:
            annotation.update(x=0, xanchor="left", font=theme.font(theme.FONT_SIZE, theme.INK))
    theme.apply_layout(
        fig,
        height=height or int(30 + LEGEND_MARGIN_PX + 230 * len(measures) + (200 if has_homework else 0) + (70 if has_sessions else 0)),
        # The legend under the plot: the scores come first on the screen (issue 15 item 3).
        margin={"l": 60, "r": 120, "t": 30, "b": LEGEND_MARGIN_PX},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.005, "x": 0,
                "font": theme.font(theme.SMALL_SIZE), "itemsizing": "constant", "tracegroupgap": 0},
        hovermode="closest",
        bargap=0.15,
    )
    fig.update_xaxes(type="date", showgrid=True, tickformat="%d %b\n%Y")  # the legend-only traces hold no dates
    return fig


def _x_range(intake: date, scores: pd.DataFrame, weekly: pd.DataFrame, sessions: pd.DataFrame,
             discharge: date | None) -> list[str]:
    dates: list[date] = [intake]
    for frame, col in ((scores, "administered_date"), (weekly, "week_start"), (sessions, "session_date")):
        if len(frame):
            values = pd.to_datetime(frame[col]).dropna()
            if len(values):
                dates.extend([values.min().date(), values.max().date() + timedelta(days=7 if col == "week_start" else 0)])
    if discharge is not None:
        dates.append(discharge)
    start, end = min(dates), max(dates)
    pad = max(timedelta(days=4), (end - start) * 0.02)
    # Clamped to the dates Python can hold: a stored year-0001 or 9999 date must still draw.
    return [(start - min(pad, start - date.min)).isoformat(), (end + min(pad, date.max - end)).isoformat()]


def client_figure(review: Any, settings: Settings | None = None, height: int | None = None) -> go.Figure | None:
    """:func:`client_timeline` for a :class:`analytics.client_review.ClientReview`."""
    return client_timeline(
        review.scores, review.weekly, review.sessions,
        intake_date=review.header["intake_date"], discharge_date=review.header["discharge_date"],
        settings=settings, height=height, tracks=getattr(review, "tracks", ()),
        gains=getattr(review, "sudden_gains", None),
    )


__all__ = ["client_figure", "client_timeline", "y_range"]
