"""The chooser's rules file: the shipped one loads and names only recipes and taxonomy nodes
OptAtlas has; every mistake in a copy of it is an error naming the candidate and the field;
size bands and risk levels at their boundaries."""

from __future__ import annotations

import copy

import pytest
import yaml

from core.chooser.rules import RULES_PATH, RulesError, default_rules, load_rules, rules_problems
from core.recipes import build_config
from core.recipes.quantization import WeightQuantConfig

RULES = default_rules()


@pytest.fixture(scope="module")
def shipped() -> dict:
    """The shipped rules file as plain data, for tests to change a copy of."""
    return yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


def _write(tmp_path, data: dict):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _candidate(data: dict, key: str) -> dict:
    return next(c for c in data["candidates"] if c["key"] == key)


def test_the_shipped_rules_load_and_name_only_what_optatlas_has(full_taxonomy):
    assert RULES.schema_version == 1 and RULES.version
    assert len(RULES.candidates) >= 10
    assert RULES.candidate("bf16") is not None and RULES.candidate("nope") is None
    slugs = {node.slug for node in full_taxonomy.nodes}
    assert rules_problems(RULES, slugs) == []


def test_rules_problems_names_a_missing_node_and_a_step_that_does_not_build(full_taxonomy):
    slugs = {node.slug for node in full_taxonomy.nodes} - {"gptq"}
    rtn = RULES.candidate("rtn-w4a16")
    broken = rtn.model_copy(update={"steps": (rtn.steps[0].model_copy(
        update={"settings": {"bits": 99}}),)})
    rules = RULES.model_copy(update={"candidates": (broken, RULES.candidate("gptq-w4a16"))})
    problems = rules_problems(rules, slugs)
    assert len(problems) == 2
    assert problems[0].startswith("candidate rtn-w4a16: step rtn:") and "bits" in problems[0]
    assert problems[1] == "candidate gptq-w4a16: no taxonomy node is called 'gptq'"


def test_every_candidates_steps_build():
    runnable = [c for c in RULES.candidates if c.steps]
    assert len(runnable) >= 10
    for candidate in runnable:
        for step in candidate.steps:
            build_config(step.recipe, dict(step.settings))  # raises when it cannot


def test_verify_steps_quantize_to_the_format_the_candidate_describes():
    # "Verify on my model" runs the steps: they must round the weights to the candidate's
    # own bits and groups (the figures its memory and speed are computed from), and cache
    # keys and values at its KV width.
    differing = []
    for candidate in RULES.candidates:
        for step in candidate.steps:
            config = build_config(step.recipe, dict(step.settings))
            if isinstance(config, WeightQuantConfig):
                runs = (config.bits, config.group_size)
                wanted = (candidate.weights.bits, candidate.weights.group_size)
            elif step.recipe == "quantized-kv-cache":
                runs, wanted = config.bits, candidate.kv_bits
            else:
                continue
            if runs != wanted:
                differing.append(f"{candidate.key}: {step.recipe} runs {runs}, "
                                 f"the candidate is {wanted}")
    assert differing == []


def test_a_copy_of_the_shipped_file_loads_the_same(tmp_path, shipped):
    assert load_rules(_write(tmp_path, shipped)) == RULES


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: _candidate(d, "nf4").update(colour="red"),
     "candidate nf4: colour: Extra inputs are not permitted"),
    (lambda d: _candidate(d, "awq-w4a16")["risk"].pop("large"),
     "candidate awq-w4a16: the candidate: risk has no prior for the size band(s) large"),
    (lambda d: _candidate(d, "gptq-w4a16").update(risk_source="nobody2099"),
     "candidate gptq-w4a16: risk_source 'nobody2099' is not listed under sources"),
    (lambda d: d["candidates"].append(copy.deepcopy(_candidate(d, "rtn-w4a16"))),
     "candidate keys appear twice: rtn-w4a16"),
    (lambda d: d["risk_levels"].update(small=0.5),
     "risk_levels must grow: negligible < small < moderate"),
    (lambda d: _candidate(d, "fp8-w8a8").update(engines={}),
     "candidate fp8-w8a8: the candidate: engines lists no engine that runs it"),
    (lambda d: _candidate(d, "bf16")["engines"].update(ollama="yes"),
     "candidate bf16: engines.ollama"),
    (lambda d: _candidate(d, "bf16").update(compute="fp7"),
     "candidate bf16: compute"),
    (lambda d: d.update(tolerances={**d["tolerances"], "huge": "high"}),
     "tolerances.huge"),
])
def test_each_mistake_is_an_error_naming_the_candidate_and_field(tmp_path, shipped, change,
                                                                   says):
    data = copy.deepcopy(shipped)
    change(data)
    with pytest.raises(RulesError) as raised:
        load_rules(_write(tmp_path, data))
    message = str(raised.value)
    assert message.startswith("rules.yaml: ")
    assert says in message


def test_a_candidate_without_a_key_is_named_by_its_place(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    del data["candidates"][2]["key"]
    with pytest.raises(RulesError, match=r"candidate number 3: key: Field required"):
        load_rules(_write(tmp_path, data))


@pytest.mark.parametrize("text", ["candidates: [unclosed", ""])
def test_an_unreadable_or_empty_file_is_an_error_naming_it(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=r"^rules\.yaml: "):
        load_rules(path)
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("parameters", "band"), [
    (0.135e9, "small"), (2.999e9, "small"), (3e9, "medium"), (8.03e9, "medium"),
    (29.99e9, "medium"), (30e9, "large"), (70.6e9, "large"), (1e13, "large"),
])
def test_size_bands_at_their_bounds(parameters, band):
    # Bounds are upper limits in billions (small below 3, medium below 30), the last open.
    assert RULES.band(parameters) == band


@pytest.mark.parametrize(("increase", "level"), [
    (-0.02, "negligible"),  # better than the baseline
    (0.0, "negligible"), (0.01, "negligible"), (0.0101, "small"), (0.05, "small"),
    (0.0501, "moderate"), (0.20, "moderate"), (0.2001, "high"), (3.0, "high"),
])
def test_risk_levels_at_their_bounds(increase, level):
    # Each level's figure is the largest relative perplexity increase it stands for.
    assert RULES.risk_of(increase) == level


def test_tolerances_admit_growing_risks_and_every_goal_says_how_it_ranks():
    assert RULES.tolerances == {"lossless": "negligible", "small": "small", "some": "moderate"}
    assert set(RULES.goals) == {"fit", "latency", "throughput", "energy"}
    assert all(goal.ranks_by for goal in RULES.goals.values())


def test_a_key_written_twice_in_the_rules_is_an_error_not_a_silent_override(tmp_path):
    text = RULES_PATH.read_text(encoding="utf-8").replace(
        "free_gpu_hours: 0.5", "free_gpu_hours: 0.5\nfree_gpu_hours: 50", 1)
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match="free_gpu_hours.*appears twice"):
        load_rules(path)
