"""The engine (models, data, techniques, measurement) and the job layer."""
