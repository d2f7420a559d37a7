"""The taxonomy's words: facet values and their display names, and search's synonyms.

Plain data and pure text functions (standard library only), so that the schema, the
catalog and the UI share one list.
"""

import re

GOAL_LABELS = {
    "memory": "Memory",
    "latency": "Latency",
    "throughput": "Throughput",
    "energy": "Energy",
}
HARDWARE_LABELS = {
    "cpu": "CPU",
    "consumer_gpu": "Consumer GPU",
    "datacenter_gpu": "Datacenter GPU",
}
NODE_KINDS = ("family", "category", "method")
# Who a node is written for: a newcomer (introductory) or a reader who knows the basics.
LEVELS = ("introductory", "advanced")
# What a perplexity is per: a token of the model's own tokenizer, a word, or a byte.
PERPLEXITY_LEVELS = ("token", "word", "byte")
# A node's trade-off fields (saves, costs, practical) by key, as pages and tables title them.
SAVES_LABELS = {
    "memory": "Memory",
    "prefill_latency": "Prefill latency",
    "decode_latency": "Decode latency",
    "throughput": "Throughput",
    "energy": "Energy",
}
COSTS_LABELS = {
    "calibration_data": "Calibration data",
    "training_compute": "Training compute",
    "accuracy_risk": "Accuracy risk",
}
PRACTICAL_LABELS = {
    "hardware": "Hardware and kernels",
    "when_to_use": "When to choose it",
    "when_not_to_use": "When not to",
}


def in_canonical_order(values, labels: dict[str, str]) -> tuple[str, ...]:
    """`values` sorted as `labels` lists them (unknown values last, alphabetically)."""
    rank = {value: i for i, value in enumerate(labels)}
    return tuple(sorted(values, key=lambda v: (rank.get(v, len(rank)), v)))


# Search: spellings a reader uses interchangeably. Each canonical term (the key) stands for
# its variants; a search for either finds text with either. Variants are written as
# `normalise_text` leaves them (lower case, hyphens as spaces) and match whole words.
# Keep it small and obvious: a wrong synonym makes every search noisier.
SEARCH_SYNONYMS = {
    "kv": ("key value", "key and value", "k v"),
    "int4": ("4 bit", "4 bits", "4bit", "four bit"),
    "int8": ("8 bit", "8 bits", "8bit", "eight bit"),
    "moe": ("mixture of experts", "mixture of expert", "mixtures of experts"),
    "speculative": ("draft", "drafts", "drafting", "drafter"),
    "pruning": ("prune", "pruned", "sparsity", "sparsification"),
    "distillation": ("distill", "distilled", "distil", "distilling"),
    "llm": ("llms", "large language model", "large language models"),
    "flashattention": ("flash attention",),
    "lora": ("low rank adaptation", "low rank adapter", "low rank adapters"),
    "ptq": ("post training quantization",),
    "qat": ("quantization aware training",),
}
# The longest variants first, so that "4 bits" is read before "4 bit" could claim it.
_VARIANT_TO_TERM = dict(
    sorted(
        ((variant, term) for term, variants in SEARCH_SYNONYMS.items() for variant in variants),
        key=lambda pair: -len(pair[0]),
    )
)
_VARIANT_PATTERN = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(v) for v in _VARIANT_TO_TERM) + r")(?!\w)"
)
_NOT_A_WORD_CHARACTER = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """Lower case, with every run of punctuation, hyphens and spaces made one space."""
    return _NOT_A_WORD_CHARACTER.sub(" ", text.casefold()).strip()


def searchable_text(text: str) -> str:
    """`text` normalised, followed by the canonical term of every synonym it uses."""
    normal = normalise_text(text)
    terms = dict.fromkeys(_VARIANT_TO_TERM[v] for v in _VARIANT_PATTERN.findall(normal))
    return " ".join([normal, *terms])


def search_terms(query: str) -> list[tuple[str, ...]]:
    """The query's terms, each as the spellings of which any one may match.

    A variant ("key value") keeps its own spelling beside its canonical term ("kv"), so a
    prefix of it still finds what it found before.
    """
    terms: list[tuple[str, ...]] = []
    position = 0
    normal = normalise_text(query)
    for found in _VARIANT_PATTERN.finditer(normal):
        terms += [(word,) for word in normal[position:found.start()].split()]
        terms.append((found.group(1), _VARIANT_TO_TERM[found.group(1)]))
        position = found.end()
    terms += [(word,) for word in normal[position:].split()]
    return terms
