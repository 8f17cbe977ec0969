"""The MLflow edge: everything the pipeline records, and the only code that writes to a store.

store        the tracking URI, the checks that fail fast in one line, the experiment
recorder     what a job records: params, tags, metrics, files, its fingerprint and twin
messages     each call a job makes to its run, as a message with one ``apply``
writer       where messages are applied: in the job's process, or in a writer process
mlflow_run   one MLflow run through ``MlflowClient`` (``log_batch``, artifacts, figures)
figures      the figures of a run and of a sweep (matplotlib)
summary      a sweep parent's summary: CSV, comparison figures, the best run
provenance   code version, git state, environment tags, config fingerprints
"""
