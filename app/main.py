"""OptAtlas's Streamlit entry point: it only routes to the pages."""

import streamlit as st

from app import style
from app.navigation import pages

st.set_page_config(page_title="OptAtlas", page_icon=":material/explore:", layout="wide")
style.apply()
st.navigation(pages()).run()
