"""The command-line tools beside ``python -m pipeline``, each ``python -m pipeline.tools.<name>``:

data    fetch and verify the full MNIST into the cache (``make data``)
rerun   run a tracked run again and compare it point by point (``make rerun RUN=<id>``)
ui      the MLflow UI on the project's store, on 127.0.0.1 (``make ui``)
server  an MLflow tracking server for runs and sweeps, on 127.0.0.1 (``make server``)
serve   a run's model over HTTP, on 127.0.0.1 (``make serve``)
sync    send a tracking server the runs and sweep ends an outage left in the spool (``make sync``)
May import anything below them; MLflow's client only through ``pipeline.tracking``.
Errors: one line and an exit code of ``pipeline.errors.ExitCode``.
"""
