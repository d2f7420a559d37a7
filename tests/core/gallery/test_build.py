"""The gallery build: measures the planned runs, writes the file after each, and on a rerun
keeps what was measured with the same code version."""

from __future__ import annotations

import json

import pytest

from core.gallery import build as gallery_build
from core.gallery.build import BuildSettings, build, code_version, spec_for
from core.gallery.plan import planned_runs, run_named
from core.gallery.record import GalleryError, read_gallery

TINY = BuildSettings(model="tiny", measure={"eval_windows": 1, "speed": "none",
                                            "diagnostics": False, "compile": False})


def test_the_plan_covers_the_lessons_sweeps_and_names_each_run_once():
    names = [run.name for run in planned_runs()]
    assert len(names) == len(set(names)) and names[0] == "baseline"
    for needed in ("rtn-3bit-per-channel", "gptq-4bit-g64", "awq-4bit-g64", "w8a8-per-tensor",
                   "smoothquant-alpha0.75-per-tensor", "llm-int8", "quanto-int4",
                   "sparsegpt-2of4", "wanda-70pct", "layer-drop-25pct-distilled",
                   "svd-rank25pct", "speculative-decoding-defaults"):
        assert needed in names
    with pytest.raises(KeyError, match="known: baseline"):
        run_named("rtn-2bit")


def test_a_build_measures_writes_and_resumes(tmp_path):
    out = tmp_path / "runs.json"
    seen = []
    steps = build(["baseline", "rtn-4bit-g64"], out, on_step=seen.append, settings=TINY)
    assert [(s.name, s.outcome) for s in steps] == [("baseline", "measured"),
                                                    ("rtn-4bit-g64", "measured")]
    assert seen == steps  # reported as each run ends
    gallery = read_gallery(out)
    rtn = gallery.run("rtn-4bit-g64")
    assert rtn.steps[0]["recipe"] == "rtn" and rtn.execution == "simulated"
    assert rtn.metrics["ppl"] > 0 and rtn.metrics["kl"] >= 0
    assert rtn.device == "cpu" and rtn.device_name and rtn.environment["torch"]
    assert rtn.code_version == code_version(spec_for(run_named("rtn-4bit-g64"), TINY))
    # A rerun keeps both; a run whose code changed is measured again.
    again = build(["baseline", "rtn-4bit-g64"], out, settings=TINY)
    assert [s.outcome for s in again] == ["kept", "kept"]
    measured_at = read_gallery(out).run("rtn-4bit-g64").measured_at
    forced = build(["rtn-4bit-g64"], out, settings=TINY, again=True)
    assert [s.outcome for s in forced] == ["measured"]
    assert read_gallery(out).run("rtn-4bit-g64").measured_at >= measured_at
    assert [run.name for run in read_gallery(out).runs] == ["baseline", "rtn-4bit-g64"]
    data = json.loads(out.read_text())
    data["runs"][1]["code_version"] = "0" * 16
    out.write_text(json.dumps(data))
    assert [s.outcome for s in build(["rtn-4bit-g64"], out, settings=TINY)] == ["measured"]


def test_a_runs_code_version_holds_its_handler_and_is_the_same_in_a_fresh_process():
    # A resumed build starts in a fresh process: before any job ran there, the version must
    # already cover the recipe's handler, or every run would be measured again.
    import subprocess
    import sys

    names = ("rtn-4bit-g64", "gptq-4bit-g64")
    script = ("from core.gallery.build import code_version, spec_for\n"
              "from core.gallery.plan import run_named\n"
              f"print(*(code_version(spec_for(run_named(n))) for n in {names!r}))")
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, cwd=gallery_build.ROOT).stdout.split()
    here = [code_version(spec_for(run_named(name))) for name in names]
    assert fresh == here
    assert here[0] != here[1]  # RTN and GPTQ share a config module, not a handler


def test_a_run_the_cpu_cannot_run_is_named_not_failed(tmp_path):
    steps = build(["bnb-nf4-defaults"], tmp_path / "runs.json", settings=TINY)
    assert steps[0].outcome == "not runnable" and "CUDA" in steps[0].detail
    assert not (tmp_path / "runs.json").exists()


def test_a_failed_run_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    real = gallery_build.measure

    def failing(run, *args, **kwargs):
        if run.name == "baseline":
            raise RuntimeError("out of memory")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(gallery_build, "measure", failing)
    steps = build(["baseline", "rtn-4bit-g64"], tmp_path / "runs.json", settings=TINY)
    assert (steps[0].outcome, steps[0].detail) == ("failed", "RuntimeError: out of memory")
    assert steps[1].outcome == "measured"


def test_unknown_names_and_broken_files_say_what_is_wrong(tmp_path):
    with pytest.raises(KeyError, match="no gallery run"):
        build(["nope"], tmp_path / "runs.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"runs": [{"name": "x"}]}')
    with pytest.raises(GalleryError, match="broken.json: runs.0"):
        read_gallery(broken)


def test_the_commit_says_changes_for_edited_code_but_not_for_the_gallery_file(tmp_path,
                                                                              monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "gallery").mkdir()
    (tmp_path / "gallery" / "runs.json").write_text("{}")
    (tmp_path / "recipe.py").write_text("BITS = 4\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start")
    monkeypatch.setattr(gallery_build, "ROOT", tmp_path)
    monkeypatch.setattr(gallery_build, "DEFAULT_PATH", tmp_path / "gallery" / "runs.json")
    clean = gallery_build.commit()
    assert len(clean) == 12 and "+" not in clean
    (tmp_path / "gallery" / "runs.json").write_text('{"runs": []}')  # the build's own writes
    assert gallery_build.commit() == clean
    (tmp_path / "recipe.py").write_text("BITS = 3\n")
    assert gallery_build.commit() == clean + "+changes"
