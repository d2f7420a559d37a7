"""The chooser's answers with the shipped rules and hardware: what each constraint excludes
and why (in words), and the top option per goal in the scenarios the issue names."""

from __future__ import annotations

import itertools

import pytest

from core.chooser.hardware import load_hardware
from core.chooser.models import PRESETS
from core.chooser.query import Hardware, Query, Workload
from core.chooser.rank import SHORTLIST_LEAST, SHORTLIST_MOST, choose
from core.chooser.rules import RISKS, default_rules

RULES = default_rules()
DEVICES = load_hardware()


def _answer(model="8B", device="h100-sxm", count=1, batch=1, prompt=1024, output=256,
            **asked):
    query = Query(model=PRESETS[model], hardware=Hardware(DEVICES[device], count),
                  workload=Workload(batch, prompt, output), **asked)
    return choose(query, RULES)


def _reasons(answer) -> dict[str, str]:
    return {o.candidate.key: " | ".join(o.exclusions) for o in answer.excluded}


def _top(answer):
    assert answer.shortlist, answer.problems
    return answer.shortlist[0]


# --- Exclusions, in words ---


@pytest.mark.parametrize("device", ["a100-80gb", "rtx-3090"])
def test_fp8_is_never_offered_on_ampere(device):
    answer = _answer(device=device, goal="latency", tolerance="some")
    fp8 = [c.key for c in RULES.candidates if "fp8" in c.needs]
    assert len(fp8) >= 3
    reasons = _reasons(answer)
    for key in fp8:
        assert "FP8 matrix products need FP8 tensor cores" in reasons[key]
        assert DEVICES[device].name in reasons[key]
    assert not {o.candidate.key for o in answer.shortlist} & set(fp8)


def test_fp8_is_offered_on_hopper():
    answer = _answer(device="h100-sxm", tolerance="some")
    assert not any("FP8" in reason for reason in _reasons(answer).values())


def test_without_calibration_data_gptq_awq_and_smoothquant_go_and_rtn_nf4_fp8_stay():
    answer = _answer(calibration_data=False, tolerance="some", gpu_hours=1000)
    reasons = _reasons(answer)
    for key in ("gptq-w4a16", "awq-w4a16", "awq-w4a16-kv8", "int8-w8a8"):
        assert "it needs calibration data" in reasons[key]
    for key in ("rtn-w4a16", "nf4", "fp8-w8a8", "int8-weight-only"):
        assert key not in reasons
    with_data = _reasons(_answer(calibration_data=True, tolerance="some", gpu_hours=1000))
    assert not any("calibration data" in reason for reason in with_data.values())


def test_llama_cpp_keeps_only_what_llama_cpp_runs():
    answer = _answer(model="3B", device="laptop-cpu", engine="llama.cpp")
    remaining = [o.candidate for o in answer.shortlist]
    assert remaining and all("llama.cpp" in c.engines for c in remaining)
    assert "llama.cpp cannot run it (engines that can: vLLM, SGLang, TensorRT-LLM)" in \
        _reasons(answer)["int8-w8a8"]
    for option in answer.shortlist:
        assert option.engine_how == option.candidate.engines["llama.cpp"]


def test_every_candidate_llama_cpp_cannot_run_says_so():
    reasons = _reasons(_answer(model="3B", device="laptop-cpu", engine="llama.cpp"))
    for candidate in RULES.candidates:
        if "llama.cpp" not in candidate.engines:
            assert "llama.cpp cannot run it" in reasons[candidate.key]


def test_vllm_on_a_laptop_cpu_is_a_problem_of_the_question():
    answer = _answer(model="3B", device="laptop-cpu", engine="vllm")
    assert answer.shortlist == ()
    assert answer.problems[0].startswith("vLLM does not run on a CPU")
    assert "Hugging Face transformers, llama.cpp" in answer.problems[0]
    assert "no candidate fits these constraints" in answer.problems[1]


def test_training_candidates_need_the_gpu_hour_budget():
    # QAT costs about 0.6 GPU-hours per billion parameters: 4.8 for an 8B model.
    tight = _reasons(_answer(gpu_hours=1, tolerance="some"))
    assert "its training needs about 4.8 GPU-hours; the budget is 1" in tight["qat-w4a16"]
    assert "its training needs about" in tight["sparse24-w4a16"]
    roomy = _reasons(_answer(gpu_hours=10, tolerance="some"))
    assert "qat-w4a16" not in roomy
    assert "GPU-hours" in roomy["sparse24-w4a16"]  # hundreds of hours of recovery
    # Costs under half an hour fit any budget, even none.
    assert "gptq-w4a16" not in _reasons(_answer(gpu_hours=0, tolerance="some"))


def test_a_model_that_does_not_fit_is_excluded_with_the_figures():
    answer = _answer(model="70B", device="rtx-4090", goal="fit", tolerance="some",
                     gpu_hours=100)
    bf16 = answer.baseline
    needed = f"{bf16.estimate.total_bytes / 2**30:,.1f} GiB"
    assert float(needed.split()[0]) > 130  # 70.6e9 parameters at 2 bytes and more
    assert f"it needs {needed} at batch 1; NVIDIA GeForce RTX 4090 24GB has 21.6 GiB " \
           "usable (10 % kept for the runtime)" in bf16.exclusions
    assert bf16 in answer.excluded


# --- Ranking per goal: the scenarios ---


def test_8b_on_h100_for_latency_without_loss_is_fp8():
    answer = _answer(goal="latency", tolerance="lossless")
    top = _top(answer)
    assert top.candidate.key == "speculative-fp8" or top.candidate.key.startswith("fp8-")
    assert top.risk.level == "negligible" and top.candidate.compute == "fp8"
    times = [o.estimate.request_s for o in answer.shortlist]
    assert times == sorted(times)


def test_8b_on_a100_for_throughput_at_batch_256_is_int8_w8a8():
    answer = _answer(device="a100-80gb", goal="throughput", batch=256, prompt=1024,
                     output=256, tolerance="small")
    assert _top(answer).candidate.key == "int8-w8a8"
    assert _top(answer).estimate.batch == 256
    speeds = [o.estimate.throughput_tok_s for o in answer.shortlist]
    assert speeds == sorted(speeds, reverse=True)


def test_8b_on_a100_for_latency_at_batch_1_is_4_bit_weights():
    top = _top(_answer(device="a100-80gb", goal="latency", batch=1, tolerance="small"))
    assert top.candidate.weights.bits == 4 and top.candidate.compute == "bf16"


def test_3b_on_a_laptop_with_llama_cpp_is_a_gguf_or_8_bit_format():
    top = _top(_answer(model="3B", device="laptop-cpu", engine="llama.cpp"))
    assert top.candidate.key in ("gguf-q4-k-m", "int8-weight-only")
    assert "llama.cpp" in top.candidate.engines


def test_70b_on_one_rtx_4090_fits_only_offloaded_or_at_2_bits():
    answer = _answer(model="70B", device="rtx-4090", goal="fit", tolerance="some",
                     gpu_hours=100)
    top = _top(answer)
    assert top.estimate.fits
    assert top.candidate.offload or top.candidate.weights.bits <= 2
    assert top.within_tolerance
    assert "bf16" in {o.candidate.key for o in answer.excluded}


def test_a_mixture_of_experts_on_two_h100s_for_throughput_is_fp8():
    answer = _answer(model="47B-MoE", count=2, goal="throughput", batch=256)
    top = _top(answer)
    assert top.candidate.key.startswith("fp8-") or top.candidate.key == "speculative-fp8"
    assert top.estimate.batch == 256


def test_goal_fit_prefers_the_lowest_risk_that_fits():
    answer = _answer(goal="fit", tolerance="small")
    top = _top(answer)
    assert top.risk.level == "negligible"
    assert top.candidate.key == "bf16" or top.candidate.weights.bits == 8
    levels = [RISKS.index(o.risk.level) for o in answer.shortlist]
    assert levels == sorted(levels)


def test_goal_energy_ranks_by_joules_per_token():
    answer = _answer(goal="energy", tolerance="some")
    joules = [o.estimate.energy_j_per_tok for o in answer.shortlist]
    assert None not in joules and joules == sorted(joules)
    admissible = [o for o in (*answer.shortlist, *answer.excluded) if o.admissible]
    assert joules[0] == min(o.estimate.energy_j_per_tok for o in admissible)


# --- The shortlist's shape ---


def test_the_shortlist_has_3_to_5_entries_whenever_3_fit_and_flags_those_over_tolerance():
    presets, devices = ["1B", "70B"], list(DEVICES)
    checked = 0
    for model, device, goal, tolerance in itertools.product(
            presets, devices, ["fit", "latency", "throughput", "energy"],
            ["lossless", "some"]):
        answer = _answer(model=model, device=device, batch=8, goal=goal, tolerance=tolerance)
        passing = [o for o in (*answer.shortlist, *answer.excluded) if not o.exclusions]
        if len(passing) >= SHORTLIST_LEAST:
            checked += 1
            assert SHORTLIST_LEAST <= len(answer.shortlist) <= SHORTLIST_MOST
        flags = [o.within_tolerance for o in answer.shortlist]
        # Within the tolerance first; any beyond it only to make up three, never mixed in.
        assert flags == sorted(flags, reverse=True)
        if False in flags:
            assert flags.count(True) < SHORTLIST_LEAST
            assert len(answer.shortlist) <= SHORTLIST_LEAST
        assert all(not o.exclusions for o in answer.shortlist)
    assert checked > 60


def test_options_over_the_tolerance_are_flagged_after_those_within():
    # 70B on two RTX 4090s, lossless: only quantization-aware training stays negligible.
    answer = _answer(model="70B", device="rtx-4090", count=2, tolerance="lossless",
                     gpu_hours=100)
    within = [o for o in answer.shortlist if o.within_tolerance]
    beyond = [o for o in answer.shortlist if not o.within_tolerance]
    assert [o.candidate.key for o in within] == ["qat-w4a16"]
    assert len(beyond) == 2 and answer.shortlist[0] is within[0]
    assert all(RISKS.index(o.risk.level) > RISKS.index("negligible") for o in beyond)


def test_when_nothing_within_the_tolerance_fits_the_answer_says_so():
    answer = _answer(model="70B", device="rtx-4090", goal="fit", tolerance="lossless",
                     gpu_hours=0)
    assert answer.shortlist and not any(o.within_tolerance for o in answer.shortlist)
    assert any("stays within the 'lossless' tolerance" in p for p in answer.problems)
