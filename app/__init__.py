"""The Streamlit UI and the command line. Never imports torch: it reads through services."""
