"""OptAtlas's Streamlit entry point: it only routes to the pages."""

import streamlit as st

from app.views import compare, explore

st.set_page_config(page_title="OptAtlas", page_icon=":material/explore:", layout="wide")

page = st.navigation(
    [
        st.Page(explore.render, title="Explore", icon=":material/account_tree:", default=True),
        st.Page(compare.render, title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    ]
)
page.run()
