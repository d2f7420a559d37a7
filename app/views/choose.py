"""Choose: which technique for my model and my hardware. The question (model, hardware,
workload, goal, tolerance, budgets) in widgets that a link can prefill, and the chooser's
answer: a ranked shortlist with the arithmetic behind each option, and why the others are
excluded. The chooser itself lives in app.chooser_service; this page only asks and shows."""

from __future__ import annotations

from html import escape

import streamlit as st

from app import services
from app.chooser_charts import options_frame, tradeoff_chart
from app.chooser_service import (
    PRESET_NOTE,
    THIS_MACHINE,
    ChooserInputError,
    Question,
    answer,
    hardware_options,
    measured_evidence,
    merge,
    model_for,
    taxonomy_evidence,
)
from app.components.choose_option import Context, duration, show_option, size
from app.components.html_table import html_table
from app.markdown_text import plain
from app.results_service import results_frame
from core.chooser.hardware import Device
from core.chooser.models import PRESETS, ChooserModel
from core.chooser.query import MAX_BATCH, MAX_GPU_HOURS, MAX_TOKENS, TOLERANCES
from core.chooser.rank import Answer
from core.chooser.rules import Rules, default_rules
from core.chooser.this_machine import MachineProfileError
from db.engine import database_url

# Results change when jobs finish: the evidence is read again after this many seconds.
EVIDENCE_TTL_S = 30
MAX_DEVICES_SHOWN = 8
DEFAULTS = Question()
CUSTOM = "custom"
MODEL_LABELS = {**{key: model.name for key, model in PRESETS.items()},
                "default": "The bundled model (SmolLM2-135M)",
                CUSTOM: "A Hugging Face id or local folder"}
TOLERANCE_LABELS = {"lossless": "lossless", "small": "small loss",
                    "some": "some loss acceptable"}
ANY_ENGINE = "any"
SELECT_MACHINE_KEY = "choose-select-machine"  # set by Measure, read before the widget exists
# URL parameter -> widget key; the same names make an answer a link.
PARAMS = {"model": "choose-model", "hardware": "choose-hardware", "count": "choose-count",
          "batch": "choose-batch", "prompt": "choose-prompt", "output": "choose-output",
          "goal": "choose-goal", "tolerance": "choose-tolerance",
          "calibration": "choose-calibration", "gpu_hours": "choose-gpu-hours",
          "engine": "choose-engine"}
NUMBERS = {"count": (int, 1, MAX_DEVICES_SHOWN), "batch": (int, 1, MAX_BATCH),
           "prompt": (int, 1, MAX_TOKENS), "output": (int, 1, MAX_TOKENS),
           "gpu_hours": (float, 0.0, float(MAX_GPU_HOURS))}


@st.cache_data(ttl=EVIDENCE_TTL_S, show_spinner=False)
def _evidence(url: str) -> dict:
    """What the atlas holds about each candidate's quality: runs measured here and the
    gallery's, and the taxonomy's reported results (`url` keys the cache per database)."""
    rules = default_rules()
    return merge(measured_evidence(rules, results_frame()),
                 taxonomy_evidence(rules, services.get_catalog()))


def _from_link(name: str, text: str, devices: dict[str, Device], rules: Rules):
    """A URL parameter as its widget's value; None when it cannot be one."""
    if name in NUMBERS:
        kind, low, high = NUMBERS[name]
        try:
            value = kind(text)
        except ValueError:
            return None
        return value if low <= value <= high else None
    if name == "calibration":
        return {"yes": True, "no": False}.get(text)
    choices = {"hardware": devices, "goal": rules.goals, "tolerance": TOLERANCES,
               "engine": (ANY_ENGINE, *rules.engines)}[name]
    return text if text in choices else None


def _prefill(devices: dict[str, Device], rules: Rules) -> None:
    """Widgets start from the link's values the first time the page shows them, else from
    the chooser's defaults; a value that cannot be used is said and left out."""
    defaults = {"model": DEFAULTS.model, "hardware": DEFAULTS.hardware, "count": DEFAULTS.count,
                "batch": DEFAULTS.batch, "prompt": DEFAULTS.prompt, "output": DEFAULTS.output,
                "goal": DEFAULTS.goal, "tolerance": DEFAULTS.tolerance,
                "calibration": DEFAULTS.calibration_data, "gpu_hours": DEFAULTS.gpu_hours,
                "engine": ANY_ENGINE}
    unread = []
    for name, key in PARAMS.items():
        if key in st.session_state:
            continue
        text = st.query_params.get(name)
        value = defaults[name]
        if name == "model" and text:
            if text not in MODEL_LABELS or text == CUSTOM:
                st.session_state["choose-model-ref"] = text
                text = CUSTOM
            value = text
        elif text:
            read = _from_link(name, text, devices, rules)
            if read is None:
                unread.append(name)
            else:
                value = read
        st.session_state[key] = value
    if unread:
        st.warning(f"The link's {', '.join(unread)} could not be used; the defaults stand "
                   "in for them.")


def _model_input(column) -> tuple[str, object]:
    """The model picker; returns what the chooser is asked for and a slot for its shape."""
    with column:
        kind = st.selectbox("Model", list(MODEL_LABELS), format_func=MODEL_LABELS.get,
                            key="choose-model")
        ref = kind
        if kind == CUSTOM:
            ref = st.text_input("Hugging Face id or local folder", key="choose-model-ref",
                                placeholder="Qwen/Qwen2.5-7B or /models/my-model",
                                help="Only its config.json is read, never its weights")
        return ref, st.empty()


def _device_label(devices: dict[str, Device]):
    def label(key: str) -> str:
        device = devices[key]
        # This machine's name says so ("This machine (…)"); its figures are achieved ones.
        measured = " · measured" if device.measured else ""
        return (f"{device.name}{measured} · {device.memory_gib:,.0f} GiB · "
                f"{device.bandwidth_gb_s:,.0f} GB/s")
    return label


def _measure() -> None:
    with st.spinner("Measuring this machine's memory, bandwidth and matmul throughput…"):
        try:
            hardware_options(measure=True)
        except MachineProfileError as error:
            st.error(f"This machine could not be measured: {plain(error, 600)}")
            return
    st.session_state[SELECT_MACHINE_KEY] = True
    st.rerun()


def _hardware_input(column, devices: dict[str, Device]) -> None:
    with column:
        # Measure asked for this machine: select it before the widget is drawn.
        if st.session_state.pop(SELECT_MACHINE_KEY, False) and THIS_MACHINE in devices:
            st.session_state["choose-hardware"] = THIS_MACHINE
        key = st.selectbox("Hardware", list(devices), format_func=_device_label(devices),
                           key="choose-hardware")
        st.number_input("How many of them (tensor parallel)", min_value=1,
                        max_value=MAX_DEVICES_SHOWN, step=1, key="choose-count")
        device = devices[key]
        with st.expander("Where these figures come from"):
            for source in device.sources:
                st.markdown(f"- [{plain(source.title)}]({source.url})" if source.url
                            else f"- {plain(source.title)}")
            if device.note:
                st.caption(device.note)
        if THIS_MACHINE not in devices and st.button(
                "Measure this machine", icon=":material/speed:", key="choose-measure",
                help="About five seconds: memory, copy bandwidth and matmul throughput"):
            _measure()


def _workload_input(column) -> None:
    with column:
        st.number_input("Concurrent requests (batch)", min_value=1, max_value=MAX_BATCH,
                        step=1, key="choose-batch")
        st.number_input("Prompt tokens", min_value=1, max_value=MAX_TOKENS, step=256,
                        key="choose-prompt")
        st.number_input("Output tokens", min_value=1, max_value=MAX_TOKENS, step=64,
                        key="choose-output")


def _goal_input(column, rules: Rules) -> None:
    with column:
        st.radio("Goal", list(rules.goals), key="choose-goal",
                 format_func=lambda goal: rules.goals[goal].name)
        st.radio("Quality tolerance", list(TOLERANCES), key="choose-tolerance",
                 format_func=TOLERANCE_LABELS.get,
                 help=", ".join(f"{TOLERANCE_LABELS[name]}: up to {rules.tolerances[name]} risk"
                                for name in TOLERANCES))


def _budget_input(column) -> None:
    with column:
        st.toggle("Calibration data available", key="choose-calibration")
        st.number_input("GPU-hours for calibration or training", min_value=0.0,
                        max_value=float(MAX_GPU_HOURS), step=0.5, key="choose-gpu-hours")


def _engine_input(column, rules: Rules) -> None:
    with column:
        names = {ANY_ENGINE: "any", **{key: engine.name for key, engine in rules.engines.items()}}
        st.selectbox("Serving engine", list(names), format_func=names.get, key="choose-engine")


def _question(model_ref: str) -> Question:
    state = st.session_state
    engine = state["choose-engine"]
    return Question(model=model_ref, hardware=state["choose-hardware"],
                    count=int(state["choose-count"]), batch=int(state["choose-batch"]),
                    prompt=int(state["choose-prompt"]), output=int(state["choose-output"]),
                    goal=state["choose-goal"], tolerance=state["choose-tolerance"],
                    calibration_data=bool(state["choose-calibration"]),
                    gpu_hours=float(state["choose-gpu-hours"]),
                    engine=None if engine == ANY_ENGINE else engine)


def _remember(question: Question) -> None:
    """The question in the address bar, so that the answer can be linked."""
    values = {"model": question.model, "hardware": question.hardware,
              "count": question.count, "batch": question.batch, "prompt": question.prompt,
              "output": question.output, "goal": question.goal,
              "tolerance": question.tolerance,
              "calibration": "yes" if question.calibration_data else "no",
              "gpu_hours": f"{question.gpu_hours:g}", "engine": question.engine or ANY_ENGINE}
    for name, value in values.items():
        if st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def _shape_note(model: ChooserModel) -> str:
    parameters = model.parameters()
    count = f"{parameters / 1e9:,.2f} B" if parameters >= 1e9 else f"{parameters / 1e6:,.0f} M"
    shape = model.shape
    experts = ""
    if model.is_moe:
        experts = (f" ({model.active_parameters() / 1e9:,.1f} B active), {model.experts} "
                   f"experts ({model.active_experts} per token)")
    # A preset's name is already the picker's label; a typed model's is worth repeating.
    name = "" if model in PRESETS.values() else f"{plain(model.name, 120)}: "
    return (f"{name}{count} parameters{experts}, {shape.layers} layers, "
            f"{shape.kv_heads} KV heads; from {plain(model.source, 200)}")


def _excluded(result: Answer) -> None:
    if not result.excluded:
        return
    st.markdown("#### Excluded")
    st.caption(f"{len(result.excluded)} candidates cannot serve this question, and why:")
    rows = [[escape(option.candidate.name), escape("; ".join(option.exclusions))]
            for option in result.excluded]
    st.html(html_table(["Candidate", "Why not"], rows, widths=[35, 65]))


def _baseline_note(result: Answer) -> str:
    found = result.baseline.estimate
    if not found.fits:
        return (f"The uncompressed BF16 model does not fit: it needs {size(found.total_bytes)} "
                f"of {size(found.usable_bytes)} usable.")
    return (f"The uncompressed BF16 model takes {size(found.total_bytes)}, decodes at ≈ "
            f"{found.decode_tok_s:,.0f} tok/s per sequence, a request ≈ "
            f"{duration(found.request_s)}; ratios below are against it.")


def _shortlist(result: Answer, context: Context, batch: int) -> None:
    st.markdown("#### Shortlist")
    st.caption(f"Rules version {result.rules_version}; ranks by {result.goal_ranks_by}.")
    for problem in result.problems:
        st.warning(problem)
    st.caption(_baseline_note(result))
    if context.model_ref in PRESETS:
        st.caption(PRESET_NOTE[0].upper() + PRESET_NOTE[1:] + ".")
    for number, option in enumerate(result.shortlist, start=1):
        show_option(number, option, result.baseline, context, batch)
    shortlisted = {o.candidate.key for o in result.shortlist}
    rest = [o.candidate.name for o in result.considered if o.candidate.key not in shortlisted]
    if rest:
        st.caption(f"Also possible, ranked lower or beyond your tolerance: {'; '.join(rest)}.")
    frame = options_frame(result)
    if not frame.empty:
        with st.expander(f"Every candidate that fits, on one chart ({len(frame)})"):
            st.plotly_chart(tradeoff_chart(frame, goal=context.goal,
                                           usable_gib=result.baseline.estimate.usable_bytes
                                           / 2**30), key="choose-chart")


def render() -> None:
    """The Choose page."""
    st.header("Choose a technique", anchor=False)
    st.write("Which technique for my model and my hardware? Each candidate's memory and "
             "speed are worked out from the model's shape and the device's datasheet (a "
             "roofline estimate), its quality risk from runs measured here, results papers "
             "report, or a cited prior; what fits is ranked by your goal.")
    rules = default_rules()
    devices = hardware_options()
    _prefill(devices, rules)
    with st.container(border=True):
        columns = st.columns([4, 5, 4], gap="medium")
        model_ref, shape_slot = _model_input(columns[0])
        _workload_input(columns[0])
        _hardware_input(columns[1], devices)
        _engine_input(columns[1], rules)
        _goal_input(columns[2], rules)
        _budget_input(columns[2])
    if st.session_state["choose-model"] == CUSTOM and not model_ref.strip():
        st.info("Type a Hugging Face id or a local folder that holds a config.json.")
        return
    question = _question(model_ref)
    _remember(question)
    try:
        shape_slot.caption(_shape_note(model_for(model_ref)))
        result = answer(question, _evidence(database_url()), rules=rules)
    except ChooserInputError as error:
        st.error(plain(str(error), 1500), icon=":material/error:")
        return
    catalog = services.get_catalog()
    names = {slug: catalog.nodes[slug].name for candidate in rules.candidates
             for slug in candidate.nodes if slug in catalog.nodes}
    context = Context(goal=question.goal, engine=question.engine, model_ref=model_ref.strip(),
                      rules=rules, node_names=names)
    _shortlist(result, context, question.batch)
    _excluded(result)
