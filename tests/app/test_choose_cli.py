"""`optatlas choose` and the chooser's line in `optatlas check`, run through the command
line's own entry point."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from core.chooser.rules import default_rules


@pytest.fixture(autouse=True)
def seeded(seeded_db_url, monkeypatch):
    """A database with the taxonomy (the measured runs the command reads: none)."""
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_choose_json_is_the_whole_answer(capsys):
    assert main(["choose", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    top = data["shortlist"][0]
    assert top["rank"] == 1
    # The defaults: an 8B model on one H100 for latency; FP8 comes first there.
    assert (data["model"]["ref"], data["hardware"]["key"], data["goal"]) == (
        "8B", "h100-sxm", "latency")
    assert top["key"] == "speculative-fp8" or top["key"].startswith("fp8-")
    assert top["speed"]["request_s"] > 0 and top["verify"]["model"] == "default"
    assert data["rules_version"] == default_rules().version
    assert "Traceback" not in captured.err


def test_choose_takes_the_pages_options(capsys):
    assert main(["choose", "--model", "70B", "--hardware", "rtx-4090", "--goal", "fit",
                 "--tolerance", "some", "--gpu-hours", "100", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["goal"], data["tolerance"], data["gpu_hours"]) == ("fit", "some", 100.0)
    assert data["shortlist"] and all(item["memory"]["fits"] for item in data["shortlist"])
    bf16 = next(item for item in data["excluded"] if item["key"] == "bf16")
    assert "GiB" in bf16["reasons"][0]


def test_choose_prints_a_readable_answer(capsys):
    assert main(["choose", "--model", "3B", "--hardware", "laptop-cpu", "--engine",
                 "llama.cpp"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3B (Llama-3.2-3B)")
    assert "\n1. " in out and "quality risk:" in out
    assert "\nExcluded:\n" in out and "llama.cpp cannot run it" in out
    assert "Note: speeds are roofline estimates" in out


def test_list_hardware_names_the_devices(capsys):
    assert main(["choose", "--list-hardware"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split()[0] for line in lines]
    assert "h100-sxm" in keys and "laptop-cpu" in keys
    assert any(line.startswith("h100-sxm") and "80 GiB" in line for line in lines)


@pytest.mark.parametrize("model", ["not a model!", "../../etc/passwd", "x" * 5000])
def test_a_bad_model_exits_2_with_a_message_and_no_traceback(capsys, model):
    assert main(["choose", "--model", model]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Cannot answer: ") or "\nCannot answer: " in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(captured.err) < 1000


def test_an_unknown_goal_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["choose", "--goal", "fast"])
    assert raised.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_check_validates_the_chooser_files(capsys):
    rules = default_rules()
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"OK: chooser rules {rules.version} ({len(rules.candidates)} candidates), " in out
