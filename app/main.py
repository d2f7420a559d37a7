"""OptAtlas's Streamlit entry point: it only routes to the pages."""

import streamlit as st

from app.navigation import PAGES

st.set_page_config(page_title="OptAtlas", page_icon=":material/explore:", layout="wide")
st.navigation(PAGES).run()
