"""Failures in words a user can act on."""

from __future__ import annotations

import torch

from core.engine.model_refs import ModelNotFoundError
from core.jobs.failures import JobTimedOut, classify
from core.recipes.base import InvalidRecipeError, MissingPackageError


def test_each_failure_gets_its_kind():
    assert classify(torch.OutOfMemoryError("CUDA out of memory"))[0] == "out_of_memory"
    assert classify(MemoryError())[0] == "out_of_memory"
    assert (
        classify(RuntimeError("DefaultCPUAllocator: can't allocate memory"))[0] == "out_of_memory"
    )
    assert classify(ModelNotFoundError("no such model"))[0] == "model_not_found"
    assert classify(InvalidRecipeError("bits: too few"))[0] == "bad_config"
    assert classify(ValueError("group_size 48 does not divide 64")) == (
        "bad_config",
        "group_size 48 does not divide 64",
    )
    kind, message = classify(ModuleNotFoundError("No module named 'hqq'", name="hqq"))
    assert kind == "missing_package" and "hqq" in message
    assert classify(JobTimedOut("ran past its time limit of 60 s"))[0] == "timeout"
    assert (
        classify(MissingPackageError("needs the optional package 'hqq'", ("hqq",)))[0]
        == "missing_package"
    )


def test_a_recipe_whose_package_is_missing_fails_as_missing_package(engine):
    from core.jobs import states, store
    from core.jobs.worker import JobWorker

    job_id = store.submit(
        engine,
        {
            "model": "tiny",
            "device": "cpu",
            "measure": {"eval_windows": 1, "speed": "none", "diagnostics": False},
            "steps": [{"recipe": "quantized-kv-cache", "settings": {"backend": "hqq"}}],
        },
    )
    assert JobWorker(engine, "cpu").run_one(job_id) == states.FAILED
    job = store.get_job(engine, job_id)
    assert job.error_kind == "missing_package" and "'hqq'" in job.error_message


def test_an_unexpected_error_says_where_it_happened():
    try:
        {}["missing"]
    except KeyError as error:
        kind, message = classify(error)
    assert kind == "crash" and message.startswith("KeyError: 'missing' (at test_failures.py:")
