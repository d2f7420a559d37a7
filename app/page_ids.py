"""Every page of the app by identity: the script Streamlit runs for it, its URL path, title
and icon. Views link to each other through these (`st.page_link(page_ids.LAUNCH.script)`),
so no view imports another view or the navigation that lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROUTES = Path(__file__).resolve().parent / "routes"


@dataclass(frozen=True)
class PageId:
    """One page: `script` is what st.Page runs and what st.page_link names."""

    script: str
    url_path: str
    title: str
    icon: str


def _page(name: str, title: str, icon: str) -> PageId:
    return PageId(script=str(ROUTES / f"{name}.py"), url_path=name, title=title, icon=icon)


EXPLORE = _page("explore", "Explore", ":material/account_tree:")
COMPARE = _page("compare", "Compare", ":material/compare_arrows:")
CHOOSE = _page("choose", "Choose", ":material/fact_check:")
LAUNCH = _page("launch", "Launch", ":material/rocket_launch:")
JOBS = _page("jobs", "Jobs", ":material/monitoring:")
RESULTS = _page("results", "Results", ":material/scatter_plot:")
LABS = _page("labs", "Labs", ":material/science:")
# Its url_path is the one app.glossary_links writes into node pages' term links.
GLOSSARY = _page("glossary", "Glossary", ":material/menu_book:")
# Menu order; the first is the landing page.
ALL = (EXPLORE, COMPARE, CHOOSE, LAUNCH, JOBS, RESULTS, LABS, GLOSSARY)
# Only in a workshop room (behind the teacher's passcode).
TEACHER = _page("teacher", "Teacher", ":material/school:")
