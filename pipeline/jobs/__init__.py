"""One job of each task, from a composed config to a tracked result: ``training`` (load_data
-> train -> evaluate) and ``lessons`` (the notebook's gradient descent and numerical
differentiation). ``pipeline.run.run`` picks the task.
May import the stages, config, progress and tracking: never the sweeps or the tools.
"""
