"""What a measurement measures and how much: the settings that fix its protocol.

Torch-free, so the job layer and the web app can name a protocol (and find a stored baseline
measured under it) without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

# Decode is measured at these batch sizes: the metric vocabulary names decode_tok_s_b1 and _b8.
DECODE_BATCHES = (1, 8)


@dataclass(frozen=True)
class MeasureConfig:
    """What to measure and how much; validated on construction."""

    corpus: str = "pydoc"
    seq_len: int = 512
    stride: int | None = None
    eval_windows: int = 16
    kl_top_k: int = 64
    prefill_tokens: int = 512
    decode_prompt_tokens: int = 64
    decode_new_tokens: int = 32
    repeats: int = 5
    measure_speed: bool = True
    # "full": prefill, TTFT, decode at batch 1 and 8, energy. "decode_b1": only batch-1
    # decode (and its roofline), for tables that compare many variants side by side.
    speed_scope: Literal["full", "decode_b1"] = "full"
    # Decode on the lean path with its step compiled (the compile paid once and reported
    # apart); False keeps the static cache but runs the step eagerly (no compile wait).
    compile_decode: bool = True

    def __post_init__(self) -> None:
        positive = ("seq_len", "eval_windows", "kl_top_k", "prefill_tokens",
                    "decode_prompt_tokens", "decode_new_tokens", "repeats")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.stride is not None and not 0 < self.stride <= self.seq_len:
            raise ValueError(f"stride must lie in 1..seq_len ({self.seq_len}), got {self.stride}")
        if self.repeats < 5 and self.measure_speed:
            # DESIGN: at least five repeats, so the median and IQR mean something.
            raise ValueError("speed needs at least 5 repeats")

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    def speed_protocol(self) -> dict:
        """How the speed figures were taken, recorded beside them."""
        full = self.speed_scope == "full"
        return {
            "prefill_tokens": self.prefill_tokens if full else None,
            "decode_prompt_tokens": self.decode_prompt_tokens,
            "decode_new_tokens": self.decode_new_tokens,
            "decode_batches": list(DECODE_BATCHES) if full else [1],
            "repeats": self.repeats,
            "decode_path": "lean: static KV cache, one-token step "
            + ("compiled (torch.compile; CUDA graphs on GPU)" if self.compile_decode
               else "eager"),
            "decode_order": "batch 1: lean, transformers generate, lean (samples split)",
            "warmup": 1,
            "statistic": "median (spread: interquartile range)",
        }
