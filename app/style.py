"""Small style adjustments Streamlit's theme options do not cover."""

import streamlit as st

# Tree entries are tertiary buttons; long names wrap, and wrapped lines read better
# left-aligned, like a file tree, than centred.
_CSS = """
<style>
[data-testid="stBaseButton-tertiary"] { justify-content: flex-start; text-align: left; }
[data-testid="stBaseButton-tertiary"] p { text-align: left; }
</style>
"""


def apply() -> None:
    """Inject the stylesheet into the current page."""
    st.html(_CSS)
