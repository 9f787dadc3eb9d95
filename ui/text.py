"""Imported values in Streamlit elements that interpret Markdown (docs/security.md, "Untrusted text").

``md(value)`` escapes a value (client id, clinic, therapist id, programme, ...) for a header,
caption, ``st.markdown``, alert, metric or widget label: it renders as the characters typed,
never as a link, image or HTML. Tables and ``st.text`` need nothing.
"""

from analytics.text import markdown_text as md

__all__ = ["md"]
