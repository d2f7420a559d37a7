"""Labs: guided lessons, each one page. The question, two minutes of reading linked to the
atlas, a prediction the learner commits to, one prepared run, its result beside the
gallery's, what happened and why, the takeaway and one variation to try next. The learner's
prediction and progress stay in the session."""

from __future__ import annotations

import streamlit as st

from app import jobs_service, labs_service, layer_charts, page_ids
from app.markdown_text import plain
from core.jobs import states
from core.jobs.spec import InvalidJobError
from core.labs.content import Lab

REFRESH_S = 3.0


def _progress(lab: Lab) -> dict:
    """This learner's state of `lab`: prediction, the run's job and the variation's."""
    return st.session_state.setdefault(f"lab-{lab.slug}", {})


def _stage(lab: Lab) -> str:
    state = _progress(lab)
    if state.get("done"):
        return "done"
    if state.get("job"):
        return "running"
    if state.get("prediction") is not None:
        return "predicted"
    return "not started"


def _index() -> None:
    st.header("Labs", anchor=False)
    st.write("Each lab asks one question and answers it with a measurement: read for two "
             "minutes, commit to a prediction, run one prepared job (a few minutes on a "
             "laptop CPU), and read the result beside the gallery's runs.")
    for lab in labs_service.labs():
        with st.container(border=True):
            st.markdown(f"**{lab.order}. {plain(lab.title, 160)}** · {_stage(lab)}")
            st.caption(plain(lab.question, 400))
            # A button, not a page link: a link to this same page carries its query string
            # into the next run only, not into the address bar, so the first widget clicked
            # on the lab would bring the list back.
            if st.button("Open this lab", icon=":material/science:", key=f"open-{lab.slug}"):
                st.query_params["lab"] = lab.slug
                st.rerun()


def _reading(lab: Lab) -> None:
    st.markdown("##### Read (two minutes)")
    st.markdown(lab.reading)
    columns = st.columns(min(4, len(lab.nodes)))
    for n, slug in enumerate(lab.nodes):
        columns[n % len(columns)].page_link(page_ids.EXPLORE.script, label=slug,
                                            icon=":material/account_tree:",
                                            query_params={"technique": slug})


def _prediction(lab: Lab) -> bool:
    """The prediction step; True once the learner has committed to one."""
    state = _progress(lab)
    st.markdown("##### Predict")
    committed = state.get("prediction")
    choice = st.radio(lab.prediction.prompt, list(lab.prediction.choices),
                      index=None if committed is None else committed,
                      disabled=committed is not None, key=f"lab-{lab.slug}-choice")
    if committed is not None:
        st.caption(f"You predicted: **{lab.prediction.choices[committed]}**. Now measure it.")
        return True
    if st.button("Commit my prediction", disabled=choice is None, key=f"lab-{lab.slug}-commit",
                 icon=":material/lock:"):
        state["prediction"] = list(lab.prediction.choices).index(choice)
        st.rerun()
    st.caption("The run unlocks once you have committed to a prediction.")
    return False


def _launch(lab: Lab, which: str) -> None:
    run = lab.run if which == "job" else lab.try_next
    try:
        submitted = labs_service.launch(run)
    except InvalidJobError as error:
        st.error(plain(str(error), 1500))
        return
    _progress(lab)[which] = submitted.job_id
    st.rerun()


def _run(lab: Lab) -> None:
    st.markdown("##### Run")
    state = _progress(lab)
    measure = ", ".join(f"{k} {v}" for k, v in lab.run.measure.items()) or "the defaults"
    st.caption(f"{plain(lab.run.title)}: settings fixed by the lab; measured with {measure} "
               "(the protocol is recorded with the result).")
    if not state.get("job"):
        if st.button(f"Run: {lab.run.title}", type="primary", key=f"lab-{lab.slug}-run",
                     icon=":material/play_arrow:"):
            _launch(lab, "job")
        return
    if state.get("done"):
        st.caption(f"Job #{state['job']} succeeded.")
        return
    _follow(lab, state["job"])


@st.fragment(run_every=REFRESH_S)
def _follow(lab: Lab, job_id: int) -> None:
    """The lab's job until it ends; then its result, the gallery's and the explanation."""
    job = jobs_service.job(job_id)
    if job is None:
        st.warning(f"Job {job_id} is gone (the room was reset?): run it again.")
        _progress(lab).pop("job", None)
        return
    if job.status in states.ACTIVE:
        st.progress(min(1.0, max(0.0, job.progress_fraction)),
                    text=f"Job #{job.id} {job.status}: {job.progress_stage or 'waiting'}")
        return
    if job.status != states.SUCCEEDED:
        st.error(f"Job #{job.id} {job.status}: {plain(job.error_message or '', 800)}")
        if st.button("Run it again", key=f"lab-{lab.slug}-again"):
            _progress(lab).pop("job", None)
            st.rerun(scope="app")
        return
    if not _progress(lab).get("done"):
        _progress(lab)["done"] = True
        st.rerun(scope="app")


def _result(lab: Lab) -> None:
    state = _progress(lab)
    outcome = labs_service.result(lab, state["job"])
    if outcome is None:
        return
    st.markdown("##### Result")
    st.markdown(f"Your run, job #{state['job']}: **{outcome.line}** ({lab.metric}, against "
                "the float model measured the same way).")
    table = labs_service.gallery_table(lab)
    if table.empty:
        st.caption("The gallery holds none of this lab's comparison runs yet "
                   "(`optatlas gallery build`).")
    else:
        st.caption("Beside the gallery's runs (the default protocol: more evaluation "
                   "windows than the lab's run, so compare changes, not raw values):")
        st.dataframe(table, hide_index=True, width="stretch")
    # Per-layer error says nothing where the weights were not touched (decoding recipes).
    if outcome.diagnostics and any(row.get("relative_error") for row in outcome.diagnostics):
        columns = st.columns(2)
        with columns[0]:
            st.caption("Error per layer: ‖Y_q − Y‖ / ‖Y‖ on calibration text")
            st.plotly_chart(layer_charts.layer_error_figure(outcome.diagnostics),
                            width="stretch", key=f"lab-{lab.slug}-errors")
        with columns[1]:
            st.caption("Activation outliers per layer: largest input channel over the median")
            st.plotly_chart(layer_charts.outlier_figure(outcome.diagnostics),
                            width="stretch", key=f"lab-{lab.slug}-outliers")
    st.page_link(page_ids.RESULTS.script, label="Open it on the Results page",
                 icon=":material/scatter_plot:", query_params={"jobs": str(state["job"])})
    st.markdown("##### What happened and why")
    st.markdown(lab.explanation)
    st.success(f"**Takeaway.** {lab.takeaway}", icon=":material/lightbulb:")
    st.markdown("##### Try next")
    if state.get("job_next"):
        st.page_link(page_ids.JOBS.script, label=f"Follow job {state['job_next']}",
                     icon=":material/monitoring:", query_params={"job": str(state["job_next"])})
    elif st.button(f"Run: {lab.try_next.title}", key=f"lab-{lab.slug}-next",
                   icon=":material/science:"):
        _launch(lab, "job_next")


def render() -> None:
    """The Labs page: the list, or one lab (`?lab=slug`)."""
    slug = st.query_params.get("lab")
    lab = labs_service.lab(slug)
    if lab is None:
        if slug:
            st.warning(f"No lab called {plain(slug, 60)!r}; here are the labs.")
        _index()
        return
    if st.button("All labs", icon=":material/arrow_back:", type="tertiary"):
        del st.query_params["lab"]
        st.rerun()
    st.header(f"{lab.order}. {lab.title}", anchor=False)
    st.info(lab.question, icon=":material/help:")
    _reading(lab)
    if _prediction(lab):
        _run(lab)
    if _progress(lab).get("done"):
        _result(lab)
