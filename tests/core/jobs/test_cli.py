"""The job commands: run a recipe to a printed result, list, export, and refuse clearly."""

from __future__ import annotations

import json

from app.cli import main
from core.engine.model_refs import MAX_MODEL_REF_CHARS

QUICK = ["--model", "tiny", "--device", "cpu", "--eval-windows", "1", "--speed", "none",
         "--no-diagnostics"]


def test_run_list_export(engine, capsys, tmp_path):
    out = tmp_path / "result.json"
    code = main(["run", *QUICK, "--recipe", "rtn", "--set", "bits=4", "group_size=16",
                 "--recipe", "w8a8", "--set", "activations=per_tensor", "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Job 1 queued: rtn(bits=4,group_size=16) + w8a8(activations=per_tensor)" in printed.err
    assert "ppl" in printed.out and "execution: simulated" in printed.out
    record = json.loads(out.read_text())
    assert record["job"]["recipe"][1] == {
        "recipe": "w8a8",
        "settings": {"activations": "per_tensor"},
    }
    assert record["ppl"] > 0 and record["execution"] == "simulated"

    assert main(["jobs"]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert main(["export", "1", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("name,") and "ppl" in header
    assert main(["cancel", "1"]) == 1
    assert "only queued or running jobs cancel" in capsys.readouterr().err


def test_bad_requests_are_refused_with_the_reason(engine, capsys):
    assert main(["run", *QUICK, "--recipe", "nope"]) == 2
    assert "Not queued: step 1: unknown recipe 'nope'" in capsys.readouterr().err
    assert main(["run", *QUICK, "--recipe", "rtn", "--set", "bits=1"]) == 2
    assert "bits" in capsys.readouterr().err
    assert main(["export", "42"]) == 1
    assert "there is no job 42" in capsys.readouterr().err
    assert main(["retry", "42"]) == 1


def test_settings_the_model_cannot_take_are_refused_before_queueing(engine, capsys):
    assert main(["run", *QUICK, "--recipe", "rtn", "--set", "group_size=48"]) == 2
    err = capsys.readouterr().err
    assert "Not queued: step 1 (rtn): group_size 48 does not divide" in err
    assert main(["jobs"]) == 0 and "No jobs yet" in capsys.readouterr().out


def test_a_failing_job_says_what_to_do(engine, capsys, tmp_path):
    # A folder with a config but no weights passes every check a config allows, and fails
    # when the worker loads it.
    folder = tmp_path / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": 300,
            }
        )
    )
    args = [a if a != "tiny" else str(folder) for a in QUICK]
    assert main(["run", *args, "--recipe", "rtn"]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and "What to do: check the model id or folder" in err


def test_devices_and_models_nobody_can_serve_are_refused(engine, capsys):
    assert main(["run", *QUICK[:2], "--device", "cuda:7", "--recipe", "rtn"]) == 2
    assert "Not queued: device 'cuda:7'" in capsys.readouterr().err
    assert main(["run", *QUICK[:2], "--device", "cuda:7", "--queue", "--recipe", "rtn"]) == 2
    assert "no running worker serves 'cuda:7'" in capsys.readouterr().err
    assert main(["run", "--model", "a" * 5000, "--recipe", "rtn"]) == 2
    err = capsys.readouterr().err
    assert f"at most {MAX_MODEL_REF_CHARS} characters" in err and "Traceback" not in err
    assert len(err) < 500


def test_worker_and_executor_take_their_own_options(engine, capsys):
    # Nothing runs; the delegation itself must accept options (argparse's remainder cannot).
    assert main(["executor", "--stop"]) == 0
    assert "executor stopped" in capsys.readouterr().out
    assert main(["worker", "--device", "cpu", "--until-idle"]) == 0


def test_a_closed_pipe_ends_the_listing_quietly(engine, tmp_path):
    import subprocess
    import sys

    from core.jobs import store

    for bits in (3, 4, 5, 6):
        store.submit(
            engine,
            {
                "model": "tiny",
                "device": "cpu",
                "steps": [{"recipe": "rtn", "settings": {"bits": bits}}],
            },
        )
    listing = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "jobs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    listing.stdout.close()  # as `| head -0` would
    _, err = listing.communicate(timeout=60)
    assert b"Traceback" not in err
