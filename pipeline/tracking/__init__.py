"""The MLflow edge: the only code that talks to a tracking store (writes runs, reads them back).

store  URI and one-line checks; recorder  what a job records, as messages (messages,
figure_messages, datasets) applied to a session in the job or a writer process (writer),
through one MLflow run (mlflow_run); for a tracking server, a spool file per run (spool)
that a thread of the job sends (spooled) exactly once (replay), also later (drain:
``make sync``); lookup  runs read back; registry  models; provenance, tags.
May import ``scratchnn``, the stages, ``pipeline.figures`` and ``pipeline.model``: never Hydra.
"""
