"""The sweep machinery: what happens around Hydra's ``--multirun``.

preflight  every job expanded and validated, before any starts, with Hydra's public API
callback   the sweep's MLflow parent run, handed to every job, and its summary at the end
launchers  where jobs run (joblib, Ray, submitit) and the store that requires
"""
