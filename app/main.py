"""OptAtlas's Streamlit entry point: it only routes to the pages."""

import time

import streamlit as st

from app import style, timing_log, workshop
from app.navigation import pages

# The favicon is a file of ours: a Material icon as favicon is fetched from Google's font
# servers, which an offline workshop room cannot reach.
st.set_page_config(page_title="OptAtlas", page_icon=str(style.ICON), layout="wide")
style.apply()
# In a workshop room, nobody sees a page before they have a seat.
if workshop.gate():
    page = st.navigation(pages(room=workshop.room() is not None))
    workshop.keep_seat_in_url(page)
    workshop.show_banner()
    started = time.perf_counter()
    page.run()
    timing_log.record(page.url_path, time.perf_counter() - started)
