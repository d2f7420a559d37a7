"""Launch opened from a link that plans its steps and names its model (the chooser's "Verify
on my model"): the form shows the planned steps with their settings, a broken plan is said
and ignored, and `prefilled_state` puts each kind of field's value where its widget reads it."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app.chooser_service import Question, answer, verify_params
from app.components.config_form import SET, UNSET, prefilled_state
from core.recipes.quantization import GPTQConfig, RTNConfig


def _launch_page() -> None:
    import streamlit as st

    from app.navigation import pages
    from app.views import launch

    st.navigation(pages(), position="hidden")  # registers the pages that links point to
    launch.render()


@pytest.fixture
def launch(seeded_db_url, monkeypatch):
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a named Hub id never waits on the network

    def open_with(**params: str) -> AppTest:
        at = AppTest.from_function(_launch_page, default_timeout=60)
        for name, value in params.items():
            at.query_params[name] = value
        return at.run()

    return open_with


def _steps(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Step ")]


def test_a_planned_rtn_step_shows_its_bits_and_group_size(launch):
    plan = [{"recipe": "rtn", "settings": {"bits": 8, "group_size": 32}}]
    at = launch(plan=json.dumps(plan))
    assert not at.exception
    steps = _steps(at)
    assert len(steps) == 1 and steps[0].startswith("**Step 1:") and "`rtn`" in steps[0]
    assert at.text_input(key="step-0-rtn-bits").value == "8"
    assert at.radio(key="step-0-rtn-group_size-choice").value == SET
    assert at.text_input(key="step-0-rtn-group_size").value == "32"
    assert not any("planned steps" in w.value for w in at.warning)


def test_a_two_step_plan_shows_both_steps_in_order(launch):
    plan = [{"recipe": "magnitude-pruning", "settings": {"sparsity": 0.3}},
            {"recipe": "rtn", "settings": {"bits": 8, "group_size": None}}]
    at = launch(plan=json.dumps(plan))
    assert not at.exception
    steps = _steps(at)
    assert len(steps) == 2
    assert steps[0].startswith("**Step 1:") and "`magnitude-pruning`" in steps[0]
    assert steps[1].startswith("**Step 2:") and "`rtn`" in steps[1]
    assert at.text_input(key="step-0-magnitude-pruning-sparsity").value == "0.3"
    assert at.text_input(key="step-1-rtn-bits").value == "8"
    assert at.radio(key="step-1-rtn-group_size-choice").value == UNSET


def test_the_choosers_verify_link_opens_launch_with_its_steps_on_the_users_model(launch):
    result = answer(Question(model="8B", hardware="laptop-cpu", engine="vllm"))
    sparse = next(o for o in result.excluded if o.candidate.key == "sparse24-w4a16")
    params = verify_params(sparse, "org/name")
    at = launch(**params)
    assert not at.exception
    steps = _steps(at)
    assert len(steps) == 2 and "`nm-sparsity`" in steps[0] and "`gptq`" in steps[1]
    assert at.selectbox(key="step-0-nm-sparsity-pattern").value == "2:4"
    assert at.selectbox(key="step-0-nm-sparsity-method").value == "sparsegpt"
    assert at.text_input(key="step-1-gptq-group_size").value == "128"
    assert at.radio(key="launch-model-kind").value == "hub"
    assert at.text_input(key="launch-hub-id").value == "org/name"


@pytest.mark.parametrize("plan", ["not json", "[1, 2]", '{"recipe": "rtn"}',
                                  '[{"settings": {}}]', '[{"recipe": "rtn", "settings": 3}]',
                                  "[" * 5000])
def test_a_broken_plan_is_said_and_ignored(launch, plan):
    at = launch(plan=plan)
    assert not at.exception
    assert any("planned steps could not be read" in w.value for w in at.warning)
    assert _steps(at) == []
    assert any("No steps" in c.value for c in at.caption)


def test_a_planned_recipe_this_version_lacks_is_said(launch):
    at = launch(plan='[{"recipe": "from-the-future", "settings": {}}]')
    assert not at.exception
    assert any("not runnable in this version" in w.value for w in at.warning)


def test_a_link_to_a_hub_model_fills_the_hugging_face_id(launch):
    at = launch(model="hub", model_ref="org/name")
    assert not at.exception
    assert at.radio(key="launch-model-kind").value == "hub"
    assert at.text_input(key="launch-hub-id").value == "org/name"


def test_a_model_ref_for_another_kind_is_not_put_in_the_id_box(launch):
    at = launch(model="default", model_ref="org/name")
    assert at.radio(key="launch-model-kind").value == "default"
    at.radio(key="launch-model-kind").set_value("hub").run()
    assert at.text_input(key="launch-hub-id").value == ""


# --- prefilled_state, field kind by field kind ---


def test_an_int_field_is_prefilled_as_its_text():
    assert prefilled_state(RTNConfig, "k", {"bits": 8}) == {"k-bits": "8"}


def test_an_optional_int_is_prefilled_as_set_with_its_value_or_unset():
    assert prefilled_state(RTNConfig, "k", {"group_size": 32}) == {
        "k-group_size-choice": SET, "k-group_size": "32"}
    assert prefilled_state(RTNConfig, "k", {"group_size": None}) == {
        "k-group_size-choice": UNSET}


def test_a_choice_is_prefilled_only_with_a_value_the_form_offers():
    assert prefilled_state(RTNConfig, "k", {"pack": "cpu_int4"}) == {"k-pack": "cpu_int4"}
    assert prefilled_state(RTNConfig, "k", {"pack": "gpu_int3"}) == {}


def test_a_bool_a_float_and_names_are_prefilled_as_their_widgets_hold_them():
    state = prefilled_state(GPTQConfig, "s", {"act_order": False, "damping": 0.05,
                                              "skip": ["lm_head", "embed"]})
    assert state == {"s-act_order": False, "s-damping": "0.05", "s-skip": "lm_head, embed"}


def test_settings_the_config_does_not_have_are_left_out():
    assert prefilled_state(RTNConfig, "k", {"colour": "red", "recipe": "gptq"}) == {}
