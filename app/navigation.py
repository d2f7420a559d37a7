"""The app's pages, built in one place so that any view can link to another.

Pages are built per script run (a Page made outside one is not usable), and a link to a
page works with any Page object of the same URL path.
"""

import streamlit as st

from app.views import compare, explore


def explore_page() -> st.Page:
    """The Explore page: tree, chart, search and a node's details."""
    return st.Page(explore.render, title="Explore", icon=":material/account_tree:", default=True)


def compare_page() -> st.Page:
    """The Compare page: techniques side by side."""
    return st.Page(
        compare.render, title="Compare", icon=":material/compare_arrows:", url_path="compare"
    )


def pages() -> list[st.Page]:
    """Every page, in menu order."""
    return [explore_page(), compare_page()]
