"""The app's pages, in menu order, as st.navigation takes them. Each page is a script under
app/routes (see app.page_ids); nothing here imports a view, so views may link to any page
without an import circle.
"""

import streamlit as st

from app import page_ids


def pages(room: bool = False) -> list[st.Page]:
    """Every page, in menu order; the first is the default (the landing page). A workshop
    room adds the teacher's page."""
    shown = page_ids.ALL + ((page_ids.TEACHER,) if room else ())
    return [
        st.Page(page.script, title=page.title, icon=page.icon, url_path=page.url_path,
                default=page is page_ids.ALL[0])
        for page in shown
    ]
