"""Launch: turn a technique into a job. A form generated from the technique's config, a model
and a device, stacked steps, the submit-time check and an estimate before submitting.

Launch stays disabled while anything on the form is invalid or the check rules the job out,
so what is queued is always exactly what the form shows."""

from __future__ import annotations

import json

import streamlit as st

from app import jobs_service, page_ids, services, workshop
from app.components.config_form import (
    FieldError,
    FormField,
    parse_value,
    prefilled_state,
    render_settings,
)
from app.components.launch_summary import show_check, show_estimate, show_twin
from app.components.technique_detail import runnable_links
from core.engine.model_refs import MAX_MODEL_REF_CHARS
from core.jobs.spec import MAX_STEPS, InvalidJobError
from core.recipes import build_config, config_types
from core.recipes.base import InvalidRecipeError
from core.text import quoted

STEPS_KEY = "launch_steps"
# A plan of at most MAX_STEPS steps and their settings is far shorter than this.
MAX_PLAN_CHARS = 4000
FOLLOWED_KEY = "followed_job"  # the job this session launched or followed last (Results)
MODEL_CHOICES = {
    "default": "Bundled: SmolLM2-135M-Instruct (offline, 135 M parameters)",
    "hub": "A Hugging Face model id",
    "local": "A local model folder",
    "tiny": "A tiny random model (seconds; for trying the flow)",
}
BUNDLED_ORIGIN = (
    "The bundled model is dequantized from a Q4_1 GGUF file: its weights already sit on a "
    "4-bit grid, so 4-bit results on it look better than they would on a float checkpoint. "
    "Use it to learn and compare; for decisions, use a float checkpoint (a Hugging Face id "
    "or a folder)."
)
SIMULATED_NOTE = (
    "**Simulated** (fake-quant): the weights are rounded to the grid but stored and computed "
    "in float, so this run shows quality only; its size and speed would be the float "
    "model's. Speed is not timed unless you ask for it under *What to measure*."
)
PACK_HINT = (
    " To measure its real size and speed, set *pack*: `cpu_int4` (4 bits) or `cpu_int8` "
    "(8 bits, symmetric, per channel) on the CPU, `cuda_int4` on an NVIDIA GPU; its simulated "
    "result records the size its format takes packed, computed, either way."
)
TIME_LIMIT = FormField(name="time_limit", kind="int", default=0, help="", minimum=0,
                       maximum=7 * 24 * 60)


def _recipe_names() -> dict[str, str]:
    """Runnable recipes with the technique name that offers each."""
    catalog = services.get_catalog()
    known = config_types()
    names = {}
    # A recipe is named after the node it runs most faithfully: one whose link has no
    # "runs a variant" note, where it is the usual recipe, whose slug it starts (gguf: GGUF
    # k-quants, not the FP4 node that also offers it); else the first node in tree order.
    links = [((bool(link.note), index > 0, not node.slug.startswith(link.recipe)),
              link.recipe, node.name) for node in catalog.nodes.values()
             for index, link in enumerate(node.recipes)]
    for _, recipe, name in sorted(links, key=lambda item: item[0]):
        if recipe in known and recipe not in names:
            names[recipe] = name
    for recipe in known:
        names.setdefault(recipe, recipe)
    room = workshop.room()
    if room is not None:  # a room offers the recipes its file allows
        names = {recipe: name for recipe, name in names.items() if room.allows_recipe(recipe)}
    return names


def _technique():
    """The node the URL names, or None (with a warning when it names none)."""
    slug = st.query_params.get("technique")
    if not slug:
        return None
    node = services.get_catalog().get(slug)
    if node is None:
        st.warning(f"No technique is called {quoted(slug, 60)}; choose one in Explore.",
                   icon=":material/help:")
    return node


def _not_runnable(node) -> None:
    """Why a method that OptAtlas cannot run has no form, with a way back to its page."""
    reason = node.not_runnable_reason or "OptAtlas has no recipe for it"
    if node.runnable_recipe:
        reason = (f"its recipe `{node.runnable_recipe}` is not implemented in this version "
                  "of OptAtlas yet")
    st.warning(f"**{node.name}** cannot be run here: {reason}", icon=":material/block:")
    st.page_link(
        page_ids.EXPLORE.script,
        label=f"Read about {node.name}",
        icon=":material/menu_book:",
        query_params={"technique": node.slug},
    )


def _planned_steps() -> list[dict]:
    """The steps a link prefills (`plan`: a JSON list of {recipe, settings}, as the chooser's
    "Verify on my model" writes it); an unreadable plan is said and ignored."""
    text = st.query_params.get("plan")
    if not text:
        return []
    try:
        plan = json.loads(text[:MAX_PLAN_CHARS]) if len(text) <= MAX_PLAN_CHARS else None
    except ValueError:
        plan = None
    if not isinstance(plan, list) or not all(
            isinstance(step, dict) and isinstance(step.get("recipe"), str)
            and isinstance(step.get("settings", {}), dict) for step in plan[:MAX_STEPS]):
        st.warning("The link's planned steps could not be read; choose the steps below.",
                   icon=":material/help:")
        return []
    return plan[:MAX_STEPS]


def _initial_steps(node) -> list[str]:
    planned = _planned_steps()
    if planned:
        known = config_types()
        for index, step in enumerate(planned):
            if step["recipe"] in known:
                state = prefilled_state(known[step["recipe"]], f"step-{index}-{step['recipe']}",
                                        step.get("settings") or {})
                st.session_state.update(state)
        return [step["recipe"] for step in planned]
    links = runnable_links(node) if node else []
    recipe = st.query_params.get("recipe") or (links[0].recipe if links else None)
    return [recipe] if recipe else []


def _model_picker() -> str:
    room = workshop.room()
    # A workshop room offers its own models only (no folders, no other Hub ids).
    choices = list(room.models) if room is not None else list(MODEL_CHOICES)
    if st.session_state.get("launch-model-kind") not in (None, *choices):
        del st.session_state["launch-model-kind"]  # the room's file changed meanwhile
    if (
        "launch-model-kind" not in st.session_state
        and st.query_params.get("model") in choices
    ):
        st.session_state["launch-model-kind"] = st.query_params["model"]
    kind = st.radio(
        "Model", choices, format_func=lambda choice: MODEL_CHOICES.get(choice, choice),
        key="launch-model-kind",
    )
    if kind == "default":
        st.caption(BUNDLED_ORIGIN)
    if room is not None:
        return kind
    # A link may name the model itself (the chooser's "Verify on my model").
    named = st.query_params.get("model_ref", "")[:MAX_MODEL_REF_CHARS]
    if named and st.query_params.get("model") == kind:
        st.session_state.setdefault(f"launch-{'hub-id' if kind == 'hub' else 'folder'}", named)
    if kind == "hub":
        return st.text_input(
            "Hugging Face id",
            placeholder="HuggingFaceTB/SmolLM2-360M-Instruct (optionally @revision)",
            key="launch-hub-id",
            help=f"at most {MAX_MODEL_REF_CHARS:,} characters",
        ).strip()
    if kind == "local":
        return st.text_input(
            "Folder with config.json and weights",
            key="launch-folder",
            help=f"at most {MAX_MODEL_REF_CHARS:,} characters",
        ).strip()
    return kind


def _planned_execution(recipe: str, settings: dict, config_type) -> str:
    """How the step will run with these settings; the class's answer while they are invalid."""
    try:
        return build_config(recipe, settings).planned_execution()
    except InvalidRecipeError:
        return config_type.execution


def _steps_editor(names: dict[str, str], node) -> tuple[list[dict], list[str]]:
    """The steps as the form shows them, and the errors of fields that are not valid."""
    steps: list[str] = st.session_state.setdefault(STEPS_KEY, _initial_steps(node))
    known = config_types()
    chosen, errors = [], []
    for index, recipe in enumerate(list(steps)):
        if recipe not in known:
            st.warning(
                f"{quoted(recipe, 60)} is not runnable in this version of OptAtlas yet; "
                "its implementation is on the way. Choose another step below."
            )
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
            # Filled once the settings are read: a setting may make the step real (packing).
            execution_note = st.empty()
            if config_type.speed_only:
                st.caption(
                    "Changes how the model runs, not its weights: decoding is timed "
                    "with it and with the model's default generation side by side, "
                    "and the two outputs compared token for token."
                )
            form = render_settings(config_type, key=f"step-{index}-{recipe}")
            if _planned_execution(recipe, form.settings, config_type) == "simulated":
                packable = "pack" in config_type.model_fields
                execution_note.info(SIMULATED_NOTE + (PACK_HINT if packable else ""),
                                    icon=":material/science:")
            errors += [f"step {index + 1}: {message}" for message in form.errors.values()]
            chosen.append({"recipe": recipe, "settings": form.settings})
    add = st.columns([4, 1])
    extra = add[0].selectbox(
        "Add a step (steps run in order: e.g. prune, then quantize)",
        list(names),
        format_func=lambda r: f"{names[r]} ({r})",
        index=None,
        placeholder="Choose a technique to stack",
        key="launch-add-choice",
    )
    if add[1].button("Add step", disabled=extra is None, icon=":material/add:"):
        steps.append(extra)
        st.rerun()
    return chosen, errors


def _measure_settings() -> dict:
    with st.expander("What to measure", expanded=False):
        room = workshop.room()
        most = room.caps.eval_windows if room is not None else 64
        windows = st.slider(
            "Evaluation windows (512 tokens each)",
            1,
            most,
            min(16, most),
            help="perplexity, KL and agreement are measured on these; fewer is faster and noisier",
            key="launch-windows",
        )
        speed = st.radio(
            "Speed",
            ["auto", "full", "decode_b1", "none"],
            horizontal=True,
            format_func={
                "auto": "auto (timed for real runs, not for simulated)",
                "full": "full (prefill, TTFT, decode b1 and b8)",
                "decode_b1": "decode at batch 1 only",
                "none": "none (quality and size only)",
            }.get,
            key="launch-speed",
        )
        diagnostics = st.toggle(
            "Per-layer error and outlier diagnostics", value=True, key="launch-diagnostics"
        )
        compiled = st.toggle(
            "Compile the decode step", value=True, key="launch-compile",
            help="speed is timed on a lean decode path (static KV cache, one call a token); "
            "compiling its step takes about 10-60 s once and gives figures close to the "
            "memory-bandwidth limit. Off: no wait, more framework overhead in the figures.",
        )
    return {"eval_windows": windows, "speed": speed, "diagnostics": diagnostics,
            "compile": compiled}


def _job_options() -> tuple[bool, int | None, list[str]]:
    room = workshop.room()
    with st.expander("Job options"):
        save = st.toggle(
            "Save the compressed model (safetensors, with a model card)", key="launch-save",
            disabled=room is not None and not room.allow_save,
            help="saving models is off in this room" if room is not None
            and not room.allow_save else None,
        )
        text = st.text_input(
            "Time limit (minutes, 0 = none)",
            "0",
            key="launch-limit",
            help=f"{TIME_LIMIT.allowed()} minutes",
        )
        try:
            minutes = parse_value(TIME_LIMIT, text)
        except FieldError as error:
            st.error(str(error), icon=":material/error:")
            return save, None, [f"job options: {error}"]
    return save, minutes * 60 if minutes else None, []


def _device_and_dtype() -> tuple[str, str]:
    options = jobs_service.devices()
    labels = {
        d.device: f"{d.device}: {d.name}"
        + (f" ({d.workers} worker(s))" if d.workers else " (no worker running yet)")
        for d in options
    }
    columns = st.columns(2)
    device = columns[0].selectbox(
        "Device", list(labels), format_func=labels.get, key="launch-device"
    )
    dtype = columns[1].selectbox(
        "Weights dtype", ["float32", "bfloat16", "float16"], key="launch-dtype"
    )
    return device, dtype


def _submit(spec: dict, ready: bool, fresh: bool = False) -> None:
    clicked = st.button(
        "Launch", type="primary", disabled=not ready, icon=":material/rocket_launch:"
    )
    # A click on the button as it was drawn a moment ago (before this rerun found a field
    # invalid) must not queue what the form no longer allows.
    if clicked and ready:
        try:
            submitted = jobs_service.launch(spec, workshop.session_owner(), fresh=fresh)
        except InvalidJobError as error:
            st.error(str(error), icon=":material/error:")
            return
        job_id, twin = submitted.job_id, submitted.twin
        st.session_state[FOLLOWED_KEY] = job_id
        st.session_state.pop("launch-duplicate", None)
        if twin is not None and twin.finished:
            st.success(f"Job {job_id} answered at once: reused from job {twin.job_id}, "
                       "which measured exactly this.")
        elif twin is not None:
            st.success(f"Job {job_id} queued, attached to job {twin.job_id}: it finishes "
                       "with it.")
        else:
            st.success(f"Job {job_id} queued.")
        st.page_link(
            page_ids.JOBS.script,
            label=f"Follow job {job_id}",
            icon=":material/monitoring:",
            query_params={"job": str(job_id)},
        )


def render() -> None:
    """The Launch page."""
    st.header("Launch a job", anchor=False)
    node = _technique()
    if (
        node is not None
        and "recipe" not in st.query_params
        and not runnable_links(node)
    ):
        _not_runnable(node)
        return
    names = _recipe_names()
    model = _model_picker()
    device, dtype = _device_and_dtype()
    steps, errors = _steps_editor(names, node)
    measure = _measure_settings()
    save, limit_s, option_errors = _job_options()
    errors += option_errors
    spec = {
        "model": model or "",
        "steps": steps,
        "device": device,
        "dtype": dtype,
        "measure": measure,
        "save_model": save,
        "time_limit_s": limit_s,
        "technique_slug": node.slug if node else None,
    }
    if not steps:
        st.caption("No steps: the job measures the model as it is (its baseline).")
    if errors:
        st.error(
            "Launch is off until these fields hold valid values:\n\n"
            + "\n".join(f"- {message}" for message in errors),
            icon=":material/edit:",
        )
        _submit(spec, ready=False)
        return
    if not model:
        st.warning("Name the model: a Hugging Face id or a folder.", icon=":material/edit:")
        _submit(spec, ready=False)
        return
    try:
        checked = jobs_service.check(spec)
    except InvalidJobError as error:
        st.error(str(error), icon=":material/error:")
        _submit(spec, ready=False)
        return
    ready, fresh = show_check(checked.preflight), False
    if ready:
        show_estimate(checked)
        ready, fresh = show_twin(checked)
    _submit(spec, ready=ready, fresh=fresh)
