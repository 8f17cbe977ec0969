"""The scratchnn pipeline: Hydra-composed runs and sweeps, stages, and MLflow tracking.

Stages are plain functions (``data.load_data`` -> ``train.train`` -> ``evaluate.evaluate``);
``run.run(cfg)`` wires them to tracking; ``python -m pipeline`` is the Hydra entry.
"""
