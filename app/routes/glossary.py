"""The Glossary page: the terms node pages link to. Streamlit runs this script for the page
(app/navigation.py lists it)."""

from app.views import glossary

glossary.render()
