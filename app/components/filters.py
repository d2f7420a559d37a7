"""The sidebar's search box and facet filters, kept in the URL so that a search can be shared.

The URL carries `q` (the search text), `goal` and `hardware` (comma-separated facet values),
and `calibration` and `training` (`yes` or `no`), e.g.
`?q=kv+cache&goal=memory&hardware=cpu&calibration=no`. A fresh session starts from them;
every change writes them back. Values the taxonomy does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import streamlit as st

from taxonomy.catalog import SearchFilter
from taxonomy.vocabulary import GOAL_LABELS, HARDWARE_LABELS

SEARCH_PARAM = "q"
GOAL_PARAM = "goal"
HARDWARE_PARAM = "hardware"
CALIBRATION_PARAM = "calibration"
TRAINING_PARAM = "training"
FILTER_PARAMS = (SEARCH_PARAM, GOAL_PARAM, HARDWARE_PARAM, CALIBRATION_PARAM, TRAINING_PARAM)
# Long enough for any real search; a longer URL value is cut, not refused.
MAX_QUERY_CHARS = 200

_TRISTATE = {"Any": None, "Yes": True, "No": False}
_URL_BOOLEAN = {"yes": True, "no": False}
_WIDGET_KEYS = {
    "text": "search_text",
    "goals": "filter_goals",
    "hardware": "filter_hardware",
    "calibration": "filter_calibration",
    "training": "filter_training",
}


def _known_values(raw: Sequence[str], known: Mapping[str, str]) -> frozenset[str]:
    # Accept both `goal=a,b` and `goal=a&goal=b`; drop anything the taxonomy lacks.
    values = {part.strip().lower() for value in raw for part in value.split(",")}
    return frozenset(values & set(known))


def _url_boolean(raw: Sequence[str]) -> bool | None:
    return _URL_BOOLEAN.get(raw[-1].strip().lower()) if raw else None


def filter_from_params(params: Mapping[str, Sequence[str]]) -> SearchFilter:
    """The search that URL parameters (name -> every value given) ask for, made safe."""
    text = params.get(SEARCH_PARAM) or [""]
    return SearchFilter(
        text=text[-1][:MAX_QUERY_CHARS].strip(),
        goals=_known_values(params.get(GOAL_PARAM, []), GOAL_LABELS),
        hardware=_known_values(params.get(HARDWARE_PARAM, []), HARDWARE_LABELS),
        needs_calibration=_url_boolean(params.get(CALIBRATION_PARAM, [])),
        needs_training=_url_boolean(params.get(TRAINING_PARAM, [])),
    )


def params_from_filter(query: SearchFilter) -> dict[str, str]:
    """The URL parameters that reproduce `query`; what is unset is left out."""
    params: dict[str, str] = {}
    if query.text:
        params[SEARCH_PARAM] = query.text
    if query.goals:
        params[GOAL_PARAM] = ",".join(g for g in GOAL_LABELS if g in query.goals)
    if query.hardware:
        params[HARDWARE_PARAM] = ",".join(h for h in HARDWARE_LABELS if h in query.hardware)
    for name, value in ((CALIBRATION_PARAM, query.needs_calibration),
                        (TRAINING_PARAM, query.needs_training)):
        if value is not None:
            params[name] = "yes" if value else "no"
    return params


def _tristate_label(value: bool | None) -> str:
    return next(label for label, meaning in _TRISTATE.items() if meaning is value)


def _start_from_url() -> None:
    # Only widgets this session has not drawn yet take the URL's values: afterwards the
    # widgets are the truth and the URL follows them.
    from_url = filter_from_params({k: st.query_params.get_all(k) for k in FILTER_PARAMS})
    initial = {
        "text": from_url.text,
        "goals": [g for g in GOAL_LABELS if g in from_url.goals],
        "hardware": [h for h in HARDWARE_LABELS if h in from_url.hardware],
        "calibration": _tristate_label(from_url.needs_calibration),
        "training": _tristate_label(from_url.needs_training),
    }
    for name, key in _WIDGET_KEYS.items():
        if key not in st.session_state:
            st.session_state[key] = initial[name]


def _write_url(query: SearchFilter) -> None:
    # Touch only parameters that changed, and never the others (e.g. ?technique=).
    wanted = params_from_filter(query)
    for name in FILTER_PARAMS:
        if name not in wanted:
            st.query_params.pop(name, None)
        elif st.query_params.get_all(name) != [wanted[name]]:
            st.query_params[name] = wanted[name]


def _label_of(labels: Mapping[str, str]) -> Callable[[str], str]:
    return lambda value: labels.get(value, value)


def sidebar_filter() -> SearchFilter:
    """Draw the search controls in the sidebar and return what they ask for."""
    _start_from_url()
    with st.sidebar:
        st.subheader("Find a technique")
        text = st.text_input(
            "Search",
            key=_WIDGET_KEYS["text"],
            placeholder="e.g. outliers, KV cache, LoRA",
            help="Matches names, tags, summaries, how each method works, libraries and "
                 "cited paper titles; common spellings (KV / key-value, 4-bit / int4) "
                 "count alike. Best matches come first.",
        )
        goals = st.multiselect(
            "Goal", list(GOAL_LABELS), key=_WIDGET_KEYS["goals"],
            format_func=_label_of(GOAL_LABELS),
        )
        hardware = st.multiselect(
            "Hardware", list(HARDWARE_LABELS), key=_WIDGET_KEYS["hardware"],
            format_func=_label_of(HARDWARE_LABELS),
        )
        calibration = st.segmented_control(
            "Needs calibration data", list(_TRISTATE), key=_WIDGET_KEYS["calibration"]
        )
        training = st.segmented_control(
            "Needs training", list(_TRISTATE), key=_WIDGET_KEYS["training"]
        )
        # A longer paste is searched by its start and says so (a browser-side limit would
        # drop the whole paste without a word).
        if len(text or "") > MAX_QUERY_CHARS:
            st.caption(f"Searching the first {MAX_QUERY_CHARS} of its {len(text):,} "
                       "characters.")
    query = SearchFilter(
        text=(text or "")[:MAX_QUERY_CHARS].strip(),
        goals=frozenset(goals),
        hardware=frozenset(hardware),
        needs_calibration=_TRISTATE.get(calibration or "Any"),
        needs_training=_TRISTATE.get(training or "Any"),
    )
    _write_url(query)
    return query
