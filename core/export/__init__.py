"""Exports of a compressed model to the formats serving engines load (GGUF for llama.cpp,
compressed-tensors for vLLM, plain safetensors), each read back with that format's own
reader and scored on the job's protocol before it is called done."""
