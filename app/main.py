"""OptAtlas's Streamlit entry point: it only routes to the pages."""

import streamlit as st

from app import style
from app.navigation import pages

# The favicon is a file of ours: a Material icon as favicon is fetched from Google's font
# servers, which an offline workshop room cannot reach.
st.set_page_config(page_title="OptAtlas", page_icon=str(style.ICON), layout="wide")
style.apply()
st.navigation(pages()).run()
