"""The Choose page: which technique for my model and my hardware. Streamlit runs this script
for the page (app/navigation.py lists it)."""

from app.views import choose

choose.render()
