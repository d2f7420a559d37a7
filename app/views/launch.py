"""Launch: turn a technique into a job. A form generated from the technique's config, a model
and a device, stacked steps, an estimate before submitting, and errors shown inline."""

from __future__ import annotations

import uuid

import streamlit as st

from app import jobs_service, services
from app.components.config_form import render_settings
from core.jobs.estimate import estimate
from core.jobs.spec import InvalidJobError
from core.recipes import config_types

STEPS_KEY = "launch_steps"
MODEL_CHOICES = {
    "default": "Bundled: SmolLM2-135M-Instruct (offline, 135 M parameters)",
    "hub": "A Hugging Face model id",
    "local": "A local model folder",
    "tiny": "A tiny random model (seconds; for trying the flow)",
}


def session_id() -> str:
    """A stable id for this browser session (jobs remember who launched them)."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return st.session_state["session_id"]


def _recipe_names() -> dict[str, str]:
    """Runnable recipes with the technique name that offers each."""
    catalog = services.get_catalog()
    known = config_types()
    names = {}
    for node in catalog.nodes.values():
        if node.runnable_recipe in known and node.runnable_recipe not in names:
            names[node.runnable_recipe] = node.name
    for recipe in known:
        names.setdefault(recipe, recipe)
    return names


def _initial_steps() -> list[str]:
    catalog = services.get_catalog()
    slug = st.query_params.get("technique")
    node = catalog.get(slug) if slug else None
    recipe = st.query_params.get("recipe") or (node.runnable_recipe if node else None)
    return [recipe] if recipe else []


def _model_picker() -> str:
    kind = st.radio("Model", list(MODEL_CHOICES), format_func=MODEL_CHOICES.get,
                    key="launch-model-kind")
    if kind == "hub":
        return st.text_input("Hugging Face id", placeholder="HuggingFaceTB/SmolLM2-360M-Instruct"
                             " (optionally @revision)", key="launch-hub-id").strip()
    if kind == "local":
        return st.text_input("Folder with config.json and weights", key="launch-folder").strip()
    return kind


def _steps_editor(names: dict[str, str]) -> list[dict]:
    steps: list[str] = st.session_state.setdefault(STEPS_KEY, _initial_steps())
    known = config_types()
    chosen = []
    for index, recipe in enumerate(list(steps)):
        if recipe not in known:
            st.warning(f"`{recipe}` is not runnable in this version of OptAtlas yet; its "
                       "implementation is on the way. Choose another step below.")
            continue
        with st.container(border=True):
            top = st.columns([5, 1])
            top[0].markdown(f"**Step {index + 1}: {names.get(recipe, recipe)}** · `{recipe}`")
            if top[1].button("Remove", key=f"remove-{index}", icon=":material/delete:"):
                steps.pop(index)
                st.rerun()
            config_type = known[recipe]
            if config_type.__doc__:
                st.caption(" ".join(config_type.__doc__.split("\n\n")[0].split()))
            if config_type.speed_only:
                st.caption("Changes how the model runs, not its weights: decoding is timed "
                           "with it and with the model's default generation side by side, "
                           "and the two outputs compared token for token.")
            settings = render_settings(config_type, key=f"step-{index}-{recipe}")
            chosen.append({"recipe": recipe, "settings": settings})
    add = st.columns([4, 1])
    extra = add[0].selectbox("Add a step (steps run in order: e.g. prune, then quantize)",
                             list(names), format_func=lambda r: f"{names[r]} ({r})",
                             index=None, placeholder="Choose a technique to stack",
                             key="launch-add-choice")
    if add[1].button("Add step", disabled=extra is None, icon=":material/add:"):
        steps.append(extra)
        st.rerun()
    return chosen


def _measure_settings() -> dict:
    with st.expander("What to measure", expanded=False):
        windows = st.slider("Evaluation windows (512 tokens each)", 1, 64, 16,
                            help="perplexity, KL and agreement are measured on these; fewer is "
                            "faster and noisier", key="launch-windows")
        speed = st.radio("Speed", ["full", "decode_b1", "none"], horizontal=True,
                         format_func={"full": "full (prefill, TTFT, decode b1 and b8)",
                                      "decode_b1": "decode at batch 1 only",
                                      "none": "none (quality and size only)"}.get,
                         key="launch-speed")
        diagnostics = st.toggle("Per-layer error and outlier diagnostics", value=True,
                                key="launch-diagnostics")
    return {"eval_windows": windows, "speed": speed, "diagnostics": diagnostics}


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def render() -> None:
    """The Launch page."""
    from app.navigation import jobs_page

    st.header("Launch a job", anchor=False)
    names = _recipe_names()
    model = _model_picker()
    options = jobs_service.devices()
    labels = {d.device: f"{d.device}: {d.name}" + (f" ({d.workers} worker(s))" if d.workers
                                                    else " (no worker running yet)")
              for d in options}
    columns = st.columns(2)
    device = columns[0].selectbox("Device", list(labels), format_func=labels.get,
                                  key="launch-device")
    dtype = columns[1].selectbox("Weights dtype", ["float32", "bfloat16", "float16"],
                                 key="launch-dtype")
    steps = _steps_editor(names)
    measure = _measure_settings()
    with st.expander("Job options"):
        save = st.toggle("Save the compressed model (safetensors, with a model card)",
                         key="launch-save")
        limit = st.number_input("Time limit (minutes, 0 = none)", 0, 7 * 24 * 60, 0,
                                key="launch-limit")
    spec = {"model": model or "", "steps": steps, "device": device, "dtype": dtype,
            "measure": measure, "save_model": save,
            "time_limit_s": limit * 60 if limit else None,
            "technique_slug": st.query_params.get("technique")}
    checked = None
    if not model:
        st.warning("Name the model: a Hugging Face id or a folder.", icon=":material/edit:")
    else:
        try:
            checked = jobs_service.check(spec)
        except InvalidJobError as error:
            st.error(str(error), icon=":material/error:")
    if checked is not None:
        recipes = [step["recipe"] for step in steps]
        history = jobs_service.history_seconds(recipes[0] if recipes else None, model, device)
        guess = estimate(model, recipes, device, dtype, history)
        parts = []
        if guess.seconds is not None:
            parts.append(f"about {_format_seconds(guess.seconds)}")
        if guess.memory_bytes is not None:
            size = guess.memory_bytes
            parts.append(f"about {size / 2**30:.1f} GiB of memory" if size >= 2**30
                         else f"about {max(1, round(size / 2**20))} MiB of memory")
        st.info(f"Estimate: {', '.join(parts) or 'unknown'} ({guess.basis}).",
                icon=":material/schedule:")
    if not steps:
        st.caption("No steps: the job measures the model as it is (its baseline).")
    if st.button("Launch", type="primary", disabled=checked is None, icon=":material/rocket_launch:"):
        try:
            job_id = jobs_service.submit(spec, session_id())
        except InvalidJobError as error:
            st.error(str(error))
        else:
            st.success(f"Job {job_id} queued.")
            st.page_link(jobs_page(), label=f"Follow job {job_id}", icon=":material/monitoring:",
                         query_params={"job": str(job_id)})
