"""One visual language for every chart and export: a colour (and, for measures, a marker) per
concept, one font family, and the base Plotly layout.

Every figure of the client review, the cohort outcomes and the quality-improvement pages, and
the PDF / HTML exports (:mod:`analytics.rendering`) take their colours and font from here, so a
concept looks the same wherever it appears: homework quantity is the same blue on the client's
chart, the cohort scatter and the QI trends; "worse" is always vermillion, "better" always
bluish green. No hex colour literal lives outside this module (tests/test_theme.py).

Palette: colour-blind safe, from two published schemes:

- Okabe M, Ito K (2008). *Color Universal Design (CUD): how to make figures and presentations
  that are friendly to colorblind people* (https://jfly.uni-koeln.de/color/): blue, reddish
  purple, bluish green, vermillion, orange, sky blue.
- Tol P (2021). *Colour schemes*, SRON/EPS/TN/09-002 (https://personal.sron.nl/~pault/data/colourschemes.pdf):
  the "muted" qualitative scheme (indigo, wine, olive, teal) for the measures and the design
  checklist, and the sequential "YlOrBr" scheme for the severity bands.

Meanings (one colour, one meaning):

- orange (:data:`OFF_TRACK`) means only "off the expected course" (client review); it no
  longer marks a compliance band or a funnel warning.
- vermillion (:data:`WORSE`) means "needs attention": worse than expected or than the
  network, reliable deterioration, item-9 risk, a missed session.
- bluish green (:data:`BETTER`) means "better": reliable improvement, better than the network,
  a sudden gain; :data:`RECOVERED` is its darker shade.
- grey is a reference or a neutral state: within limits / as expected, follow-up, counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

# ----------------------------------------------------------------------------- type and ink

FONT_FAMILY = "'Source Sans Pro', 'Source Sans 3', 'DejaVu Sans', Arial, sans-serif"
FONT_SIZE = 13
TITLE_SIZE = 15
SMALL_SIZE = 11  # band labels, annotations; never below 11 px on screen (>= 8 pt in the PDF)
INK = "#1F2933"  # text, axis titles, the overall / network line
MUTED_INK = "#52606D"  # secondary text, captions, band labels
GRID = "#E4E7EB"
PAPER = "#FFFFFF"
HEADER_FILL = "#E8ECF0"  # table headers in the exports
RULE = "#DFE3E8"  # table rules in the exports

# ----------------------------------------------------------------------------- homework

QUANTITY = "#0072B2"  # Okabe-Ito blue: how much of the homework was done
QUALITY = "#CC79A7"  # Okabe-Ito reddish purple: how well it was done
ASSIGNMENTS = "#7B8794"  # assignments set / reviewed (counts, shares of assignments)
DENSITY_LOW = "#DCEAF5"  # the lightest bin of a 2-D histogram (one client); darker = more clients
DESIGN_CHECKLIST = "#44AA99"  # Tol muted teal: design-checklist coverage / items met

# ----------------------------------------------------------------------------- measures

MEASURE_COLOURS = {
    "PHQ9": "#332288",  # Tol muted indigo
    "GAD7": "#882255",  # Tol muted wine
    "CORE10": "#999933",  # Tol muted olive
}
MEASURE_SYMBOLS = {"PHQ9": "circle", "GAD7": "diamond", "CORE10": "triangle-up"}
OTHER_MEASURE = INK
FOLLOW_UP = "#7B8794"  # scores after discharge (hollow)

# ----------------------------------------------------------------------------- direction and state

BETTER = "#009E73"  # Okabe-Ito bluish green
RECOVERED = "#004D39"  # much darker shade of BETTER (recovered: better and out of caseness)
WORSE = "#D55E00"  # Okabe-Ito vermillion
HARMED = "#8A3C00"  # darker shade of WORSE
AS_EXPECTED = "#9AA5B1"  # within limits, unchanged, not met
RISK = WORSE  # item 9 above 0: "needs attention"
OFF_TRACK = "#E69F00"  # Okabe-Ito orange: outside the usual range of the expected course, only
SUDDEN_GAIN = BETTER
EXPECTED = "#56B4E9"  # Okabe-Ito sky blue: the expected course and its usual range
EXPECTED_FILL_ALPHA = 0.2
CASENESS = MUTED_INK  # the caseness threshold line
LIMITS = MUTED_INK  # funnel control limits
NETWORK = INK  # funnel centre line (the whole network's value)
ALL_CLIENTS = "#7F7F7F"

# ----------------------------------------------------------------------------- sessions, activity

CLIENTS = INK  # active clients (QI activity)
SESSION_ATTENDED = MUTED_INK
SESSION_MISSED = WORSE
SESSION_UPCOMING = AS_EXPECTED

# Streamlit's named colours for badges and coloured text, by the same meanings.
BADGE_BETTER = "green"
BADGE_WORSE = "red"
BADGE_OFF_TRACK = "orange"
BADGE_NEUTRAL = "gray"

# ----------------------------------------------------------------------------- severity bands

# Tol's sequential YlOrBr, lightest first: the best band lightest, each band clearly darker
# than the one below it (mild and moderate differ visibly), light enough for the data on top.
SEVERITY_FILLS = ("#FFFFE5", "#FFF7BC", "#FEE391", "#FEC44F", "#FB9A29", "#EC7014")
SEVERITY_OPACITY = 0.55
BAND_LABEL = MUTED_INK

# ----------------------------------------------------------------------------- outcome categories

OUTCOME_COLOURS = {
    "recovered": RECOVERED,
    "improved": BETTER,
    "unchanged": AS_EXPECTED,
    "deteriorated": WORSE,
    "harmed": HARMED,
}


def measure_key(measure: str) -> str:
    """"PHQ-9" / "phq9" / "PHQ-9 (NHS paired)" -> "PHQ9" (the key of the measure dictionaries)."""
    head = str(measure).split(" ")[0]
    return "".join(ch for ch in head.upper() if ch.isalnum())


def measure_colour(measure: str) -> str:
    """The measure's colour (PHQ-9 indigo, GAD-7 wine, CORE-10 olive; others ink)."""
    return MEASURE_COLOURS.get(measure_key(measure), OTHER_MEASURE)


def measure_symbol(measure: str) -> str:
    """The measure's marker (PHQ-9 circle, GAD-7 diamond, CORE-10 triangle; others square)."""
    return MEASURE_SYMBOLS.get(measure_key(measure), "square")


def rgba(colour: str, alpha: float) -> str:
    """``#RRGGBB`` as ``rgba(r,g,b,alpha)``."""
    h = colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def _mix(colour: str, other: str, share: float) -> str:
    a = colour.lstrip("#")
    b = other.lstrip("#")
    mixed = [round(int(a[i : i + 2], 16) * (1 - share) + int(b[i : i + 2], 16) * share) for i in (0, 2, 4)]
    return "#" + "".join(f"{v:02X}" for v in mixed)


def tint(colour: str, share: float) -> str:
    """``colour`` mixed with white (``share`` 0 = unchanged, 1 = white)."""
    return _mix(colour, PAPER, share)


def shade(colour: str, share: float) -> str:
    """``colour`` mixed with black (``share`` 0 = unchanged, 1 = black)."""
    return _mix(colour, "#000000", share)


def compliance_colour(compliance: str) -> str:
    """The concept colour of a compliance measure: "quantity" -> QUANTITY, "quality" -> QUALITY."""
    return QUALITY if str(compliance).lower().startswith("qual") else QUANTITY


def compliance_band_colours(labels: Sequence[str], compliance: str = "quantity") -> dict[str, str]:
    """Low to high compliance bands as light to dark shades of the compliance measure's own colour
    (quantity bands blue, quality bands reddish purple), plus grey for "All clients"."""
    base = compliance_colour(compliance)
    n = len(labels)
    steps = [tint(base, 0.6), tint(base, 0.25), base, shade(base, 0.35), shade(base, 0.55)]
    if n <= 1:
        chosen = [base]
    elif n == 2:
        chosen = [tint(base, 0.5), base]
    elif n == 3:
        chosen = [tint(base, 0.45), base, shade(base, 0.5)]
    else:
        chosen = [steps[round(i * (len(steps) - 1) / (n - 1))] for i in range(n)]
    colours = dict(zip(labels, chosen, strict=False))
    colours["All clients"] = ALL_CLIENTS
    return colours


def severity_fills(n: int, *, higher_is_better: bool = False) -> list[str]:
    """``n`` severity-band fills from the best band to the worst, each visibly darker than the last
    (listed lowest score first: reversed when a higher score is better)."""
    if n <= 1:
        fills = [SEVERITY_FILLS[0]]
    else:
        last = len(SEVERITY_FILLS) - 1
        fills = [SEVERITY_FILLS[round(i * last / (n - 1))] for i in range(n)]
    return fills[::-1] if higher_is_better else fills


def font(size: int = FONT_SIZE, colour: str = INK) -> dict[str, Any]:
    """A Plotly font dict in the theme's family."""
    return {"family": FONT_FAMILY, "size": size, "color": colour}


def apply_layout(fig: go.Figure, *, height: int | None = None, **layout: Any) -> go.Figure:
    """The base layout every chart shares: white template, the theme font and ink, light grid,
    hover labels in the same font. ``layout`` is passed on to ``fig.update_layout`` after it."""
    base: dict[str, Any] = {
        "template": "plotly_white",
        "font": font(),
        "paper_bgcolor": PAPER,
        "plot_bgcolor": PAPER,
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": 12}},
        "legend": {"font": font(12)},
    }
    if height is not None:
        base["height"] = height
    fig.update_layout(**base)
    fig.update_xaxes(gridcolor=GRID, linecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, linecolor=GRID)
    if layout:
        fig.update_layout(**layout)
    return fig


def css_variables() -> str:
    """The theme as CSS custom properties, for the HTML export's stylesheet."""
    return (f":root {{ --font: {FONT_FAMILY}; --ink: {INK}; --muted: {MUTED_INK}; --alert: {WORSE}; "
            f"--alert-fill: {rgba(WORSE, 0.08)}; --header-fill: {HEADER_FILL}; --rule: {RULE}; }}")


__all__ = [name for name in dir() if name.isupper()] + [
    "apply_layout",
    "compliance_band_colours",
    "compliance_colour",
    "css_variables",
    "font",
    "measure_colour",
    "measure_key",
    "measure_symbol",
    "rgba",
    "severity_fills",
    "shade",
    "tint",
]
