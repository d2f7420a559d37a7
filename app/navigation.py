"""The app's pages, built in one place so that any view can link to another.

Pages are built per script run (a Page made outside one is not usable), and a link to a
page works with any Page object of the same URL path.
"""

import streamlit as st

from app.views import compare, explore, jobs, launch, results


def explore_page() -> st.Page:
    """The Explore page: tree, chart, search and a node's details."""
    return st.Page(explore.render, title="Explore", icon=":material/account_tree:", default=True)


def compare_page() -> st.Page:
    """The Compare page: techniques side by side."""
    return st.Page(
        compare.render, title="Compare", icon=":material/compare_arrows:", url_path="compare"
    )


def launch_page() -> st.Page:
    """The Launch page: a technique's settings, a model and a device, then a job."""
    return st.Page(launch.render, title="Launch", icon=":material/rocket_launch:",
                   url_path="launch")


def jobs_page() -> st.Page:
    """The Jobs page: live progress of every job."""
    return st.Page(jobs.render, title="Jobs", icon=":material/monitoring:", url_path="jobs")


def results_page() -> st.Page:
    """The Results page: measured runs side by side."""
    return st.Page(results.render, title="Results", icon=":material/scatter_plot:",
                   url_path="results")


def pages() -> list[st.Page]:
    """Every page, in menu order."""
    return [explore_page(), compare_page(), launch_page(), jobs_page(), results_page()]
