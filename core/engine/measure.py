"""The measurement suite: quality, speed, memory and size of one loaded model."""

from __future__ import annotations

import platform
from contextlib import nullcontext
from datetime import datetime, timezone

import torch
import transformers

from core.engine import roofline
from core.engine.data import Windows, evaluation_windows, load_corpus, perplexity_levels
from core.engine.decode_speed import Progress, decode_figures, text_prompts
from core.engine.decoding import decoding_option
from core.engine.devices import describe
from core.engine.energy import EnergyMeter
from core.engine.fingerprint import model_fingerprint
from core.engine.kv import cache_bytes, cache_option
from core.engine.measure_config import DECODE_BATCHES, MeasureConfig
from core.engine.memory import PeakMemory, disk_bytes, stored_bytes
from core.engine.metrics import PERPLEXITY_KEY, REAL
from core.engine.models import LoadedModel
from core.engine.paths import cache_dir
from core.engine.quality import CACHE_CHUNK_TOKENS, BaselineOutputs, baseline_path, evaluate_quality
from core.engine.results import Measurement
from core.engine.speed import (
    decode_energy_per_token,
    greedy_decode,
    prefill_timing,
    ttft_timing,
)


def _environment() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
    }


def _check_fits(loaded: LoadedModel, config: MeasureConfig) -> None:
    limit = getattr(loaded.model.config, "max_position_embeddings", None)
    longest = max(config.seq_len, config.prefill_tokens,
                  config.decode_prompt_tokens + config.decode_new_tokens)
    if limit and longest > limit:
        raise ValueError(
            f"sequences of {longest} tokens do not fit this model's {limit} positions: "
            "lower seq_len or prefill_tokens"
        )
    vocabulary = loaded.model.config.vocab_size
    if config.kl_top_k > vocabulary:
        raise ValueError(f"kl_top_k ({config.kl_top_k}) exceeds the vocabulary ({vocabulary})")


def decode_prompts(loaded: LoadedModel, config: MeasureConfig, batch: int) -> torch.Tensor:
    """The `batch` decode prompts `measure_model` uses (real text from the evaluation split)."""
    return text_prompts(_windows(loaded, config).input_ids, config.decode_prompt_tokens, batch)


def decode_metrics_b1(loaded: LoadedModel, config: MeasureConfig) -> tuple[dict, dict]:
    """Batch-1 decode figures (metrics, spread) on the prompts `measure_model` uses: the rate,
    and for a model with a decoding option also its side-by-side speedup over default
    generation, whether the outputs match, and the acceptance rate where drafts are proposed."""
    metrics: dict = {}
    spread: dict = {}
    decode_figures(loaded, config, _windows(loaded, config).input_ids, 1, metrics, spread,
            lambda stage, fraction: None)
    return metrics, spread


def decode_rate_b1(loaded: LoadedModel, config: MeasureConfig) -> tuple[float, float]:
    """Batch-1 decode tokens/s (median, IQR) on the prompts `measure_model` uses. Benchmarks
    time the baseline with it right beside each variant, so that a ratio compares two
    measurements taken moments apart rather than minutes apart on a machine whose speed drifts."""
    metrics, spread = decode_metrics_b1(loaded, config)
    return metrics["decode_tok_s_b1"], spread["decode_tok_s_b1"]


def _measure_speed(
    loaded: LoadedModel, config: MeasureConfig, text_ids: torch.Tensor, metrics: dict,
    spread: dict, report: Progress, paths: dict,
) -> None:
    model, device, repeats = loaded.model, loaded.device, config.repeats
    if config.speed_scope == "decode_b1":
        decode_figures(loaded, config, text_ids, 1, metrics, spread, report, paths)
        return
    report("prefill", 0.0)
    prompt = text_prompts(text_ids, config.prefill_tokens, 1)
    prefill = prefill_timing(model, prompt, device=device, repeats=repeats)
    metrics["prefill_ms"], spread["prefill_ms"] = prefill.median * 1e3, prefill.iqr * 1e3
    report("ttft", 0.0)
    option = decoding_option(model)
    with option.active() if option else nullcontext():
        ttft = ttft_timing(model, loaded.tokenizer, prompt, device=device, repeats=repeats,
                           generate_kwargs=option.generate_kwargs if option else None)
    metrics["ttft_ms"], spread["ttft_ms"] = ttft.median * 1e3, ttft.iqr * 1e3
    for batch in DECODE_BATCHES:
        decode_figures(loaded, config, text_ids, batch, metrics, spread, report, paths)
    if option is not None:
        # The energy loop is the engine's own greedy loop, not the option's generation.
        metrics["energy_j_per_tok"] = None
        return
    meter = EnergyMeter(device)
    try:
        metrics["energy_j_per_tok"] = decode_energy_per_token(
            model, text_prompts(text_ids, config.decode_prompt_tokens, 1),
            new_tokens=config.decode_new_tokens, device=device, meter=meter,
        )
    finally:
        meter.close()


def _kv_cache_sizes(loaded: LoadedModel, config: MeasureConfig,
                    text_ids: torch.Tensor) -> dict[int, int]:
    # The cache's real bytes after the batch-1 decode run's prompt and each new token (key:
    # tokens decoded), from the model's own kind of cache: float, quantized, whatever it is.
    sizes: dict[int, int] = {}
    greedy_decode(
        loaded.model,
        text_prompts(text_ids, config.decode_prompt_tokens, 1),
        new_tokens=config.decode_new_tokens,
        device=loaded.device,
        after_step=lambda decoded, cache: sizes.__setitem__(decoded, cache_bytes(cache)),
    )
    return sizes


def _roofline(
    loaded: LoadedModel,
    config: MeasureConfig,
    metrics: dict,
    use_cache: bool,
    kv_sizes: dict[int, int],
) -> None:
    bandwidth = roofline.measure_bandwidth(loaded.device, use_cache=use_cache)
    context = config.decode_prompt_tokens + config.decode_new_tokens // 2
    kv_element = torch.empty((), dtype=loaded.dtype).element_size()
    # The cache as measured halfway through the decode run (for a float cache this equals the
    # size computed from the config; a quantized one is counted packed, as weights are).
    step = roofline.decode_step_bytes(
        loaded.model,
        batch=1,
        context=context,
        kv_element_size=kv_element,
        kv_bytes=kv_sizes.get(config.decode_new_tokens // 2),
    )
    bound = roofline.roofline_decode_tok_s(bandwidth, step)
    metrics["bandwidth_gb_s"] = bandwidth
    metrics["roofline_decode_tok_s"] = bound
    metrics["roofline_ratio"] = metrics["decode_tok_s_b1"] / bound
    # Measured step time minus bytes over bandwidth, as a share of the step.
    metrics["overhead_share"] = max(0.0, 1.0 - metrics["roofline_ratio"])


def _explain_gaps(metrics: dict, device: torch.device) -> list[str]:
    # A figure that is missing or means something particular says so, next to the numbers.
    notes = []
    if device.type == "cpu":
        notes.append(
            "peak_mem_bytes is the whole process's peak RSS (Python and libraries included)"
        )
    else:
        notes.append(
            "peak_mem_bytes is the CUDA allocator's peak reservation (without the context)"
        )
    if "energy_j_per_tok" in metrics and metrics["energy_j_per_tok"] is None:
        notes.append("energy_j_per_tok needs an NVIDIA GPU and the nvidia-ml-py package (pynvml)")
    if metrics.get("disk_bytes") is None:
        notes.append("disk_bytes: this model has no checkpoint on disk")
    return notes


def _own_baseline(
    loaded: LoadedModel, windows: Windows, use_cache: bool, notes: list[str]
) -> tuple[BaselineOutputs | None, object]:
    path = baseline_path(cache_dir(), model_fingerprint(loaded), windows.protocol.key)
    if use_cache and path.is_file():
        notes.append("KL and agreement measured against the cached baseline outputs")
        return BaselineOutputs.load(path), path
    notes.append("baseline outputs computed now" + (" and cached" if use_cache else ""))
    return None, path if use_cache else None


def baseline_outputs(loaded: LoadedModel, config: MeasureConfig) -> BaselineOutputs:
    """The unmodified model's summarised outputs under `config`'s protocol: from the cache,
    or computed now and cached. Compressed variants are then measured against them."""
    windows = _windows(loaded, config)
    notes: list[str] = []
    cached, save_to = _own_baseline(loaded, windows, True, notes)
    if cached is not None:
        return cached
    _, outputs = evaluate_quality(loaded.model, windows, device=loaded.device)
    outputs.save(save_to)
    return outputs


def _windows(loaded: LoadedModel, config: MeasureConfig) -> Windows:
    return evaluation_windows(
        loaded.tokenizer,
        load_corpus(config.corpus),
        seq_len=config.seq_len,
        max_windows=config.eval_windows,
        stride=config.stride,
        kl_top_k=config.kl_top_k,
    )


def measure_model(
    loaded: LoadedModel,
    config: MeasureConfig = MeasureConfig(),
    *,
    name: str = "baseline",
    baseline: BaselineOutputs | None = None,
    execution: str = REAL,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> Measurement:
    """Measure `loaded`.

    Given a `baseline` (the unmodified model's outputs), KL and agreement are measured
    against it. Without one, the model is its own baseline: its outputs are cached under a
    fingerprint of its weights and the protocol, and reused by every later comparison.
    """
    report = progress or (lambda stage, fraction: None)
    _check_fits(loaded, config)
    report("data", 0.0)
    windows = _windows(loaded, config)
    notes: list[str] = []
    save_to = None
    if baseline is None:
        baseline, save_to = _own_baseline(loaded, windows, use_cache, notes)
    metrics: dict[str, float | None] = {}
    spread: dict[str, float] = {}
    with PeakMemory(loaded.device) as peak:
        quality, outputs = evaluate_quality(
            loaded.model,
            windows,
            device=loaded.device,
            baseline=baseline,
            compare_with_self=baseline is None,
            progress=lambda f: report("quality", f),
        )
        if save_to is not None:
            outputs.save(save_to)
        metrics["ppl"] = quality.ppl
        metrics["word_ppl"] = quality.word_ppl
        metrics["byte_ppl"] = quality.byte_ppl
        metrics["kl"], metrics["top1_agreement"] = quality.kl, quality.top1_agreement
        metrics["eval_tok_s"] = quality.eval_tok_s
        report("kv_cache", 0.0)
        kv_sizes = _kv_cache_sizes(loaded, config, windows.input_ids)
        metrics["kv_cache_bytes"] = kv_sizes[config.decode_new_tokens]
        paths: dict[int, tuple[str, str | None]] = {}
        if config.measure_speed:
            _measure_speed(loaded, config, windows.input_ids, metrics, spread, report, paths)
    metrics["peak_mem_bytes"] = peak.peak_bytes
    metrics["stored_bytes"] = stored_bytes(loaded.model)
    metrics["disk_bytes"] = disk_bytes(loaded.checkpoint_dir) if loaded.checkpoint_dir else None
    if config.measure_speed:
        report("bandwidth", 0.0)
        _roofline(loaded, config, metrics, use_cache, kv_sizes)
    notes += _explain_gaps(metrics, loaded.device)
    option = cache_option(loaded.model)
    if option is not None:
        notes.append(
            f"KV cache: {option.label}; quality scored through it, "
            f"{CACHE_CHUNK_TOKENS} tokens per forward call"
        )
    decoding = decoding_option(loaded.model)
    if decoding is not None and config.measure_speed:
        notes.append(
            f"decoding: {decoding.label}; decode and TTFT timed through generate() with it, "
            "from the end of the first step (the prefill) to the last; decode_speedup_b1 is "
            "against the same model's default generate(), timed beside it (default, option, "
            "option, default); output_matches compares the two outputs token for token"
        )
        notes.extend(decoding.notes)
        if decoding.max_batch is not None:
            notes.append(
                f"decode above batch {decoding.max_batch} is not measured: this "
                f"decoding handles at most {decoding.max_batch} sequence at a time"
            )
    report("done", 1.0)
    protocol = windows.protocol.to_dict()
    protocol[PERPLEXITY_KEY] = perplexity_levels(windows)
    protocol["kv_cache"] = {
        "prompt_tokens": config.decode_prompt_tokens,
        "new_tokens": config.decode_new_tokens,
        "batch": 1,
    }
    if config.measure_speed:
        # The decoding option is the run's, not the protocol's: it is named in the notes, so
        # that runs with and without it stay comparable under one protocol.
        protocol["speed"] = config.speed_protocol()
    # Which path timed each batch's decode figure, and why where it is not the compiled one:
    # the run's circumstance (beside the environment), not the protocol, so that a model
    # whose cache forced the eager loop stays comparable with its baseline.
    decode_paths = {f"b{b}": path for b, (path, _) in paths.items()}
    notes.extend(sorted({f"decode timed on the {path} path: {why}"
                         for path, why in paths.values() if why}))
    return Measurement(
        name=name,
        model=loaded.spec.label,
        model_key=loaded.spec.key,
        device=str(loaded.device),
        device_name=describe(loaded.device),
        dtype=str(loaded.dtype).removeprefix("torch."),
        execution=execution,
        metrics=metrics,
        spread=spread,
        protocol=protocol,
        environment={**_environment(), "source": loaded.source,
                     **({"decode_paths": decode_paths} if decode_paths else {})},
        notes=notes,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
