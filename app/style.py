"""Small style adjustments Streamlit's theme options do not cover."""

from pathlib import Path

import streamlit as st

LOGO = Path(__file__).parent / "assets" / "logo.svg"
ICON = Path(__file__).parent / "assets" / "icon.svg"

# Tree entries are tertiary buttons; long names wrap, and wrapped lines read better
# left-aligned, like a file tree, than centred.
_CSS = """
<style>
[data-testid="stBaseButton-tertiary"] { justify-content: flex-start; text-align: left; }
[data-testid="stBaseButton-tertiary"] p { text-align: left; }
</style>
"""


def apply() -> None:
    """Brand the page and inject the stylesheet."""
    st.logo(str(LOGO), size="large")
    st.html(_CSS)
