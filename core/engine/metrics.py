"""The one vocabulary of metric names and units, shared by results, the CLI, benches and charts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A measured quantity: its unit, whether lower is better, what it means, and the short
    name axes and legends give it (`axis_label` adds the unit as a chart shows it)."""

    name: str
    unit: str
    lower_is_better: bool
    description: str
    label: str = ""

    def axis_label(self) -> str:
        """The label an axis shows: the short name and the unit plotted (bytes as MiB)."""
        shown = "MiB" if self.unit == "bytes" else self.unit
        name = self.label or self.name
        return f"{name} ({shown})" if shown and shown not in ("fraction", "x") else name


_METRICS = (
    Metric("ppl", "", True, label="perplexity",
           description="perplexity on the evaluation split, per token of the model's own "
           "tokenizer: compare only runs that share a tokenizer"),
    Metric("word_ppl", "", True, label="word perplexity",
           description="the same likelihood per whitespace-separated word of the scored text "
           "(as lm-evaluation-harness's word_perplexity): comparable across tokenizers"),
    Metric("byte_ppl", "", True, label="byte perplexity",
           description="the same likelihood per UTF-8 byte of the scored text: comparable "
           "across tokenizers"),
    Metric(
        "kl",
        "nats/token",
        True,
        label="KL from baseline",
        description="mean KL divergence of next-token distributions from the baseline's",
    ),
    Metric(
        "top1_agreement",
        "fraction",
        False,
        label="top-1 agreement with baseline",
        description="share of positions whose argmax token equals the baseline's",
    ),
    Metric(
        "prefill_ms",
        "ms",
        True,
        label="prefill latency, 512 tokens",
        description="latency of one forward pass over a 512-token prompt",
    ),
    Metric(
        "ttft_ms",
        "ms",
        True,
        label="time to first token",
        description="time to first token: prefill plus the first sampled token",
    ),
    Metric(
        "decode_tok_s_b1",
        "tokens/s",
        False,
        label="decode speed, batch 1",
        description="decode throughput at batch 1 on the lean path (static KV cache, "
        "compiled step; the protocol's decode_path says which path timed it)",
    ),
    Metric(
        "decode_tok_s_b8",
        "tokens/s",
        False,
        label="decode speed, batch 8",
        description="decode throughput at batch 8 (tokens of all sequences), on the lean "
        "path",
    ),
    Metric(
        "decode_tok_s",
        "tokens/s",
        False,
        label="decode speed",
        description="decode throughput at the batch size the row's protocol names "
        "(batch-size sweeps)",
    ),
    Metric(
        "generate_tok_s_b1",
        "tokens/s",
        False,
        label="transformers generate, batch 1",
        description="batch-1 decode through plain transformers generate() (its default "
        "cache), timed beside the lean figure: what a user of transformers sees",
    ),
    Metric(
        "decode_first_call_s",
        "s",
        True,
        label="decode compile (first call)",
        description="seconds of the compiled batch-1 decode step's first call (its compile), "
        "kept out of tokens/s",
    ),
    Metric(
        "overhead_share",
        "fraction",
        True,
        label="overhead share of a decode step",
        description="share of a batch-1 decode step not explained by reading its bytes at "
        "the measured bandwidth: (step time - bytes / bandwidth) / step time",
    ),
    Metric(
        "peak_mem_bytes",
        "bytes",
        True,
        label="peak memory",
        description="peak CUDA memory, or peak process RSS on CPU, while measuring",
    ),
    Metric(
        "stored_bytes",
        "bytes",
        True,
        label="stored size",
        description="bytes of parameters and buffers as stored (packed counts packed)",
    ),
    Metric(
        "packed_bytes_computed",
        "bytes",
        True,
        label="packed size, computed",
        description="bytes the model's format takes packed, computed from the layer shapes "
        "(weights at their bits, scales, zero points, group indices): the size axis of a "
        "simulated run, whose weights are stored in float",
    ),
    Metric(
        "disk_bytes",
        "bytes",
        True,
        label="size on disk",
        description="size of the saved model on disk",
    ),
    Metric(
        "compression_s",
        "s",
        True,
        label="compression time",
        description="wall time of the compression steps",
    ),
    Metric(
        "energy_j_per_tok",
        "J/token",
        True,
        label="energy per token",
        description="GPU energy per decoded token (NVML)",
    ),
    Metric(
        "bandwidth_gb_s",
        "GB/s",
        False,
        label="memory bandwidth",
        description="measured memory bandwidth of the device (copy benchmark)",
    ),
    Metric(
        "roofline_decode_tok_s",
        "tokens/s",
        False,
        label="roofline bound, batch-1 decode",
        description="upper bound on batch-1 decode: bandwidth / bytes per step",
    ),
    Metric(
        "roofline_ratio",
        "fraction",
        False,
        label="share of roofline bound",
        description="measured batch-1 decode speed as a share of the roofline bound",
    ),
    Metric(
        "kv_cache_bytes",
        "bytes",
        True,
        label="KV cache size",
        description=(
            "bytes the KV cache holds after the batch-1 decode run's prompt and new tokens "
            "(quantized caches counted packed, with their scales and float residual)"
        ),
    ),
    Metric(
        "decode_speedup_b1",
        "x",
        False,
        label="decode speedup, batch 1 (side by side)",
        description=(
            "batch-1 decode speed over the float baseline's (a decoding option: over the same "
            "model's default generation), the two timed one right after the other in the same run"
        ),
    ),
    Metric(
        "eval_tok_s",
        "tokens/s",
        False,
        label="evaluation speed",
        description="tokens per second of the perplexity pass",
    ),
    Metric(
        "acceptance_rate",
        "fraction",
        False,
        label="draft acceptance rate",
        description=(
            "speculative and prompt-lookup decoding: share of the proposed draft tokens the "
            "target accepted"
        ),
    ),
    Metric(
        "output_matches",
        "fraction",
        False,
        label="output equals greedy",
        description="1 when the output equals the target's greedy decoding token for token, else 0",
    ),
    Metric(
        "layer_bytes_ratio",
        "fraction",
        True,
        label="changed layers' share of float bytes",
        description="stored bytes of the layers a technique changed, as a share of their "
        "float bytes",
    ),
)
METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}

# How a speed or size figure came about: a real low-bit kernel on packed weights, or
# fake-quantization (weights rounded but stored and computed in float: accuracy only).
# The protocol's record of which perplexity is per what (and of the scored text's size). It
# describes figures the rest of the protocol already fixes, so results measured before it
# existed stay comparable: core.jobs.results.protocol_hash leaves it out.
PERPLEXITY_KEY = "perplexity"
PERPLEXITY_UNITS = {
    "ppl": "per token of the model's own tokenizer",
    "word_ppl": "per whitespace-separated word of the scored text",
    "byte_ppl": "per UTF-8 byte of the scored text",
}

REAL = "real"
SIMULATED = "simulated"
EXECUTIONS = (REAL, SIMULATED)


def format_value(name: str, value: float | None) -> str:
    """A metric value as a person reads it."""
    if value is None:
        return "—"
    unit = METRICS[name].unit
    if unit == "bytes":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.2f} {suffix}"
        return f"{value:.0f} B"
    if unit == "fraction":
        return f"{value:.4f}"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.1f} {unit}".strip()
    return f"{value:.4g} {unit}".strip()
