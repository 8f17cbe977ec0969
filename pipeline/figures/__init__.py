"""Pictures: arrays and params in, a ``matplotlib.figure.Figure`` out; no MLflow, no files.

training, lessons, digits  a run's figures; sweep_losses, sweep_accuracy  a sweep's; layout.
May import matplotlib and numpy only: saving and logging a figure is the MLflow edge's job.
"""
