"""Logit distillation on tiny models: the loss is a true KL, the schedule warms up and decays,
and training a damaged student towards its teacher brings their outputs closer."""

from __future__ import annotations

import copy

import pytest
import torch

import core.distillation  # noqa: F401  (registers logit-distillation)
import core.pruning  # noqa: F401  (registers layer-drop)
from core.distillation.logit_distillation import distillation_loss, learning_rate_factor
from core.engine.models import load_model
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (8, 64), generator=torch.Generator().manual_seed(0))


def test_loss_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(2, 5, 11)
    for direction in ("forward", "reverse"):
        assert float(distillation_loss(logits, logits, temperature=2.0,
                                       direction=direction)) == pytest.approx(0, abs=1e-6)
        assert float(distillation_loss(logits, logits * 3, temperature=2.0,
                                       direction=direction)) > 0


def test_schedule_warms_up_then_decays_to_zero():
    factors = [learning_rate_factor(step, 10, 2) for step in range(10)]
    assert factors[0] == 0.5 and factors[1] == 1.0
    assert all(a >= b for a, b in zip(factors[1:], factors[2:]))
    assert learning_rate_factor(10, 10, 2) == pytest.approx(0.0, abs=1e-9)


def _kl_to(teacher, student) -> float:
    with torch.no_grad():
        return float(distillation_loss(student(IDS, use_cache=False).logits,
                                       teacher(IDS, use_cache=False).logits,
                                       temperature=1.0, direction="forward"))


def test_distilling_a_layer_dropped_student_brings_it_closer_to_its_teacher():
    teacher = load_model("tiny:3").model
    student = copy.deepcopy(teacher)
    context = ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS),
                           original=lambda: teacher)
    apply(student, build_config("layer-drop", {"fraction": 0.5, "keep_first_and_last": False,
                                               "calibration_samples": 2}), context)
    before = _kl_to(teacher, student)
    report = apply(student, build_config("logit-distillation", {
        "steps": 30, "learning_rate": 3e-3, "seq_len": 32, "batch_size": 4}), context)
    assert report.details["steps"] == 30 and not report.details["stopped_by_budget"]
    assert report.details["last_loss"] < report.details["first_loss"]
    assert _kl_to(teacher, student) < 0.7 * before
    assert all(p.grad is None for p in student.parameters())


def test_without_a_teacher_it_says_so():
    with pytest.raises(ValueError, match="needs the original model as a teacher"):
        apply(load_model("tiny").model, build_config("logit-distillation", {"steps": 1}),
              ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS)))
