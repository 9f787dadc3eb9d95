"""Untrusted text: values from an import shown as plain text (docs/security.md, "Untrusted text").

Every text value of an export (client id, clinic, therapist id, programme, primary concern,
assignment id, description) is data written by someone else: it must never become markup.
Two renderers interpret markup and each has its one escaping function:

- Streamlit Markdown (headers, captions, ``st.markdown``, alerts, metric and widget labels):
  :func:`markdown_text` here (pure; the pages use it through ``ui.text``).
- Plotly text (titles, hover, marker text, annotations: Plotly renders a subset of HTML,
  ``<a href>`` links included): :func:`plotly_text`.

Tables (``st.dataframe``), ``st.text``, selectbox options, the PDF (fpdf2 draws text) and the
HTML exports (``html.escape`` in :mod:`analytics.rendering`) show text literally already.
"""

from __future__ import annotations

import re
from typing import Any

# Characters with a meaning in (GitHub-flavoured, Streamlit) Markdown inside a line: emphasis,
# code, links and images, raw HTML and entities, strikethrough, LaTeX ($), tables, and a colon
# that starts one of Streamlit's :directives[...], :material/icons: or :emoji: codes.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!<>&~$|]|:(?=[\w/]))")
# At the start of a line only: a list item ("-", "1."; "+" and "1)" are escaped anyway) or a
# heading underline ("=").
_LINE_START = re.compile(r"^(\d+\.|[-=])")
_NEWLINES = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
# Streamlit's GFM autolinks "http://...", "www." and e-mail addresses in the *text* after
# backslash escapes are removed, so escaping cannot stop them: an invisible word joiner
# (U+2060) inside the pattern does ("http:\u2060//x", "www\u2060.x", "a@\u2060b.c").
AUTOLINK_BREAK = "\u2060"
_AUTOLINKS = re.compile(r"(:)(?=//)|(www)(?=\.)|(@)", re.IGNORECASE)


def markdown_text(value: Any) -> str:
    """``value`` as Markdown source that renders exactly as its text (one line).

    Every Markdown metacharacter is backslash-escaped (CommonMark: any ASCII punctuation may
    be), line breaks become spaces (a value cannot start a block), and a word joiner
    (:data:`AUTOLINK_BREAK`, invisible) breaks what GFM would autolink ("://", "www.", "@"),
    so a link, an image, an HTML tag or an address in the value shows as the characters
    typed. ``None`` gives an empty string.
    """
    if value is None:
        return ""
    text = _NEWLINES.sub(" ", str(value))
    text = _AUTOLINKS.sub(lambda m: m.group(0) + AUTOLINK_BREAK, text)
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)


def plotly_text(value: Any) -> str:
    """``value`` for Plotly text: ``&``, ``<`` and ``>`` as entities, so Plotly draws the
    characters instead of interpreting ``<a href>``, ``<b>``, ``<br>`` and the like."""
    if value is None:
        return ""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["AUTOLINK_BREAK", "markdown_text", "plotly_text"]
