"""Every input a user can type, fed hostile values: over-long, empty, unicode, control
characters, HTML and script, Markdown links, negative, huge and non-finite numbers, wrong
types and path tricks. Each is refused with a message or accepted; none raises, and a job
that is queued holds exactly what the form (or the command line) showed.

The counts are printed (run with -s to see them) and checked against a floor, so that a
change that silently skips fields fails here."""

from __future__ import annotations

import json
import math

import pytest
from streamlit.testing.v1 import AppTest

from app.components.config_form import form_fields
from core.jobs import store
from core.recipes import build_config, config_types
from db.engine import make_engine

HOSTILE = [
    "", " ", "a" * 5000, "é✓漢字🙂", "\x00\x07\x1b[31m", "line\nbreak\ttab",
    "<script>alert(1)</script>", "<b>bold</b>", "[x](javascript:alert(1))", "**x** _y_ `z`",
    ":red[x] :material/home:", "-1", "-0.5", "0", "1e308", "-1e308", "1e-400", "nan", "inf",
    "99999999999999999999999", "0x10", "1,5", "1_000", "4.0", "3.5", "true", "None", "[]",
    "{}", "../../etc/passwd", "/etc/passwd", "~root/.ssh", "/dev/zero", "$(reboot)",
    "'; DROP TABLE jobs; --", "lm_head, q_proj", "down_proj=0.3", "a,,b, ,", ",",
]
TEXT_KINDS = ("int", "float", "optional_int", "optional_float", "text", "names")


def _launch_page() -> None:
    import streamlit as st

    from app.navigation import pages
    from app.views import launch

    st.navigation(pages(), position="hidden")
    launch.render()


@pytest.fixture
def launch(tmp_path, monkeypatch):
    """A fresh Launch page on its own database, with the Hub unreachable."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")

    def make(recipe: str) -> AppTest:
        at = AppTest.from_function(_launch_page, default_timeout=60)
        at.query_params["recipe"] = recipe
        at.run()
        at.radio(key="launch-model-kind").set_value("tiny").run()
        return at

    return make


def _launch(at):
    return next((b for b in at.button if b.label == "Launch"), None)


def _shown_matches_stored(recipe: str, at, stored: dict) -> bool:
    """True when the queued step's settings are what the form's widgets show."""
    config = build_config(recipe, stored)
    for field in form_fields(config_types()[recipe]):
        key = f"step-0-{recipe}-{field.name}"
        value = getattr(config, field.name)
        if field.kind in ("optional_int", "optional_float") and \
                at.radio(key=f"{key}-choice").value == "unset":
            shown_ok = value is None
        elif field.kind in ("int", "float", "optional_int", "optional_float"):
            typed = float(at.text_input(key=key).value.strip())
            shown_ok = value is not None and math.isfinite(typed) and float(value) == typed
        elif field.kind == "names":
            shown_ok = value == tuple(p.strip() for p in at.text_input(key=key).value.split(",")
                                      if p.strip())
        elif field.kind == "text":
            shown_ok = value == at.text_input(key=key).value.strip()
        else:
            widget = at.toggle(key=key) if field.kind == "bool" else at.selectbox(key=key)
            shown_ok = value == widget.value
        if not shown_ok:
            return False
    return True


def _try(at, key: str, typed: str, recipe: str, counts: dict) -> None:
    at.text_input(key=key).input(typed).run()
    counts["tried"] += 1
    if at.exception:
        counts["tracebacks"] += 1
        return
    button = _launch(at)
    if button is None or button.disabled:
        counts["refused"] += 1
        return
    button.click().run()
    if at.exception or not at.success:
        counts["tracebacks"] += bool(at.exception)
        counts["refused"] += not at.exception
        return
    job_id = int(at.success[0].value.split()[1])
    engine = make_engine()
    job = store.get_job(engine, job_id)
    counts["queued"] += 1
    if not _shown_matches_stored(recipe, at, job.recipe[0]["settings"]):
        counts["mismatched"] += 1
    store.request_cancel(engine, job_id)  # leaves no twin to disable the next launch


def test_every_launch_field_refuses_or_queues_exactly_what_it_shows(launch):
    counts = dict.fromkeys(("tried", "refused", "queued", "tracebacks", "mismatched"), 0)
    for recipe, config_type in config_types().items():
        at = launch(recipe)
        assert not at.exception, recipe
        for field in form_fields(config_type):
            if field.kind not in TEXT_KINDS:
                continue
            key = f"step-0-{recipe}-{field.name}"
            if field.kind.startswith("optional"):
                at.radio(key=f"{key}-choice").set_value("set").run()
            original = at.text_input(key=key).value
            for typed in HOSTILE:
                _try(at, key, typed, recipe, counts)
            at.text_input(key=key).input(original).run()
    print(f"\nLaunch form fuzz: {counts}")
    assert counts["tracebacks"] == 0 and counts["mismatched"] == 0
    assert counts["tried"] >= 1500 and counts["queued"] >= 50 and counts["refused"] >= 500


@pytest.mark.parametrize("kind", ["hub", "local"])
def test_model_names_refuse_or_queue_what_was_typed(launch, kind, tmp_path):
    at = launch("rtn")
    at.radio(key="launch-model-kind").set_value(kind).run()
    key = "launch-hub-id" if kind == "hub" else "launch-folder"
    counts = dict.fromkeys(("tried", "refused", "queued", "tracebacks", "mismatched"), 0)
    for typed in [*HOSTILE, str(tmp_path), str(tmp_path / "nothing"), "org/name@main",
                  "org/name@bad rev", "a/..", "tiny:1"]:
        at.text_input(key=key).input(typed).run()
        counts["tried"] += 1
        counts["tracebacks"] += bool(at.exception)
        button = _launch(at)
        if button is None or button.disabled:
            counts["refused"] += 1
            continue
        button.click().run()
        counts["tracebacks"] += bool(at.exception)
        if at.success:
            job = store.get_job(make_engine(), int(at.success[0].value.split()[1]))
            counts["queued"] += 1
            counts["mismatched"] += job.model_ref != at.text_input(key=key).value.strip()
            store.request_cancel(make_engine(), job.id)
    print(f"\nModel name fuzz ({kind}): {counts}")
    assert counts["tracebacks"] == 0 and counts["mismatched"] == 0
    assert counts["refused"] >= len(HOSTILE) - 5


def _cli(args: list[str], capsys) -> tuple[int, str]:
    from app.cli import main

    try:
        code = main(args)
    except SystemExit as exit_:  # argparse refuses a malformed option with a message
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_command_line_refuses_or_queues_exactly_what_it_was_given(engine, capsys,
                                                                      monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    base = ["run", "--queue", "--model", "tiny", "--device", "cpu"]
    variants = []
    for value in HOSTILE:
        variants += [
            ["run", "--queue", "--model", value, "--device", "cpu", "--recipe", "rtn"],
            [*base, "--recipe", "rtn", "--set", f"bits={value}"],
            [*base, "--recipe", "rtn", "--set", f"skip={value}"],
            [*base, "--recipe", "wanda", "--set", f"sparsity={value}"],
            [*base, "--recipe", "speculative-decoding", "--set", f"draft_model={value}"],
            ["run", "--queue", "--model", "tiny", "--device", value, "--recipe", "rtn"],
            [*base, "--label", value, "--recipe", "rtn"],
            [*base, "--recipe", value],
            [*base, "--eval-windows", value, "--recipe", "rtn"],
            [*base, "--time-limit", value, "--recipe", "rtn"],
        ]
    counts = dict.fromkeys(("tried", "refused", "queued", "tracebacks", "mismatched"), 0)
    for args in variants:
        before = {j.id for j in store.list_jobs(engine)}
        code, output = _cli(args, capsys)
        counts["tried"] += 1
        if "Traceback" in output or code not in (0, 2):
            counts["tracebacks"] += 1
            continue
        new = [j for j in store.list_jobs(engine) if j.id not in before]
        if code == 2:
            counts["refused"] += 1
            counts["mismatched"] += bool(new)  # refused, yet something was queued
            continue
        counts["queued"] += 1
        job = new[0]
        asked = _asked(args)
        stored = {"model": job.model_ref, "device": job.device, "label": job.label,
                  "steps": job.recipe, "windows": job.measure["eval_windows"],
                  "limit": job.time_limit_s}
        counts["mismatched"] += any(stored[k] != v for k, v in asked.items() if v is not None)
        store.request_cancel(engine, job.id)
    print(f"\nCommand line fuzz: {counts}")
    assert counts["tracebacks"] == 0 and counts["mismatched"] == 0
    assert counts["tried"] == len(variants) and counts["queued"] >= 20


def _asked(args: list[str]) -> dict:
    """What a `run` command line asks for, read independently of the CLI's own parser."""
    def option(name):
        return args[args.index(name) + 1] if name in args else None

    steps, index = [], 0
    while index < len(args):
        if args[index] == "--recipe":
            steps.append({"recipe": args[index + 1], "settings": {}})
        elif args[index] == "--set":
            key, _, text = args[index + 1].partition("=")
            try:
                steps[-1]["settings"][key] = json.loads(text)
            except json.JSONDecodeError:
                steps[-1]["settings"][key] = text
        index += 1
    windows, limit = option("--eval-windows"), option("--time-limit")
    label = option("--label")
    return {"model": option("--model"), "device": option("--device"), "steps": steps,
            "label": label if label else None,
            "windows": int(windows) if windows is not None else None,
            "limit": float(limit) if limit is not None else None}
