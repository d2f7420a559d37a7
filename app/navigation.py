"""The app's pages, defined once so that any view can link to another."""

import streamlit as st

from app.views import compare, explore

EXPLORE = st.Page(explore.render, title="Explore", icon=":material/account_tree:", default=True)
COMPARE = st.Page(
    compare.render, title="Compare", icon=":material/compare_arrows:", url_path="compare"
)
PAGES = [EXPLORE, COMPARE]
