"""The MLflow edge: everything the pipeline records, and the only code that writes to a store.

store        the tracking URI, the checks that fail fast in one line, the experiment
recorder     what a job records: params, tags, metrics, files, its fingerprint and twin
messages     each call a job makes to its run, as a message with one ``apply``
writer       where messages are applied: in the job's process, or in a writer process
mlflow_run   one MLflow run through ``MlflowClient`` (``log_batch``, artifacts, figures)
figures      a run's figures (matplotlib) and the layout helpers of every figure module
digit_figures  on MNIST: W1's columns as 28x28 images, the misclassified test digits
sweep_figures  a sweep's loss curves as small multiples; the order of an axis' values
sweep_accuracy a sweep's test accuracy as heat-maps, or against its one axis
summary      a sweep parent's summary: CSV, comparison figures, the best run
provenance   code version, git state, environment tags, config fingerprints
"""
