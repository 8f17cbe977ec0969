"""One job of each task, from a composed config to a tracked result: ``training`` (load_data
-> train -> evaluate) and ``lessons`` (the notebook's gradient descent and numerical
differentiation). ``pipeline.run.run`` picks the task."""
