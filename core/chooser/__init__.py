"""The chooser: from a model, hardware, a workload and a goal to a ranked shortlist of
techniques, with the arithmetic shown (issue 17). Torch-free: the web app and the command
line use it as they are; only its check against the engine's measurements loads a model."""
