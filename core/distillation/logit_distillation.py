"""Logit distillation (Hinton et al., 2015): the student is trained so that its softened
next-token distribution matches the teacher's, on calibration text, for a bounded number of
steps (and seconds), with AdamW and a warm-up-then-cosine learning rate."""

from __future__ import annotations

import math
import time

import torch

from core.recipes.distillation import LogitDistillationConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *,
                      temperature: float, direction: str) -> torch.Tensor:
    """Mean per-token KL between the softened distributions, times T^2 (so gradients keep
    their scale as T changes)."""
    student = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if direction == "forward":  # KL(teacher || student)
        kl = (teacher.exp() * (teacher - student)).sum(-1)
    else:  # KL(student || teacher)
        kl = (student.exp() * (student - teacher)).sum(-1)
    return kl.mean() * temperature**2


def training_sequences(input_ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    """The calibration windows cut into sequences of `seq_len` tokens, [n, seq_len]."""
    usable = input_ids.shape[1] // seq_len * seq_len
    if usable == 0:
        raise ValueError(f"calibration windows of {input_ids.shape[1]} tokens are shorter than "
                         f"seq_len {seq_len}")
    return input_ids[:, :usable].reshape(-1, seq_len)


def learning_rate_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@register(LogitDistillationConfig)
def apply_distillation(model: torch.nn.Module, config: LogitDistillationConfig,
                       context: ApplyContext) -> ApplyReport:
    """Train `model` towards the original model's logits."""
    teacher = context.original_model().eval()
    device = next(model.parameters()).device
    data = training_sequences(context.calibration.input_ids, config.seq_len)
    parameters = [p for p in model.parameters() if p.dtype.is_floating_point]
    trainable_before = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    warmup = int(config.steps * config.warmup_fraction)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, config.steps, warmup))
    generator = torch.Generator().manual_seed(0)
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    try:
        for step in range(config.steps):
            if (
                config.time_budget_s is not None
                and time.perf_counter() - start > config.time_budget_s
            ):
                break
            batch = data[torch.randint(0, len(data), (config.batch_size,), generator=generator)]
            batch = batch.to(device)
            with torch.no_grad():
                teacher_logits = teacher(batch, use_cache=False).logits
            student_logits = model(batch, use_cache=False).logits
            loss = distillation_loss(
                student_logits,
                teacher_logits,
                temperature=config.temperature,
                direction=config.direction,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            context.report("distillation", (step + 1) / config.steps)
    finally:
        model.eval()
        for parameter, trainable in zip(parameters, trainable_before):
            parameter.requires_grad_(trainable)
            parameter.grad = None
    seconds = time.perf_counter() - start
    return ApplyReport(
        config.recipe,
        config.execution,
        len(parameters),
        {
            "steps": len(losses),
            "seconds": round(seconds, 1),
            "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(sum(losses[-5:]) / len(losses[-5:]), 4) if losses else None,
            "stopped_by_budget": len(losses) < config.steps,
        },
    )
