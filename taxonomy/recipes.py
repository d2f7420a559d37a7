"""The OptAtlas recipe slugs a taxonomy node may name as `runnable.recipe`.

The engine's technique registry implements these; a node naming any other slug is a
content error caught when the taxonomy loads.
"""

RECIPE_SLUGS = frozenset(
    {
        # quantization
        "rtn",
        "quanto",
        "hqq",
        "autoround",
        "gguf",
        "gptq",
        "awq",
        "w8a8",
        "smoothquant",
        "llm-int8",
        "bnb-nf4",
        "fp8",
        "torchao-int4",
        "quantized-kv-cache",
        # pruning
        "magnitude-pruning",
        "wanda",
        "sparsegpt",
        "owl",
        "nm-sparsity",
        "head-pruning",
        "mlp-channel-pruning",
        "layer-drop",
        # distillation
        "logit-distillation",
        # architecture and inference time
        "svd-lowrank",
        "attention-implementation",
        "static-cache-compile",
        "speculative-decoding",
        "prompt-lookup-decoding",
    }
)
