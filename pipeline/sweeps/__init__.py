"""The sweep machinery: what happens around Hydra's ``--multirun``.

preflight  every job expanded and validated, before any starts, with Hydra's public API
callback   the sweep's MLflow parent run, handed to every job, and its end
ending     the end itself: summary, front page, registration; saved for ``make sync`` when
           the tracking server is down
launchers  where jobs run (joblib, Ray, submitit) and the store that requires
summary    the parent's summary: a CSV row per job and per config, the config chosen by
           validation accuracy (``stages.selection``), its best job's model registered
comparisons  the loss curves and each config's accuracy as figures on the parent
diff_summary  the error-against-h figure of a ``task=numerical_diff`` sweep
front_page  what the parent shows first in the UI: params, counts, description
verdict    the choice in words: chosen and runner-up, mean ± spread, within noise or not
May import the stages, figures, config and tracking (its store access goes through tracking).
"""
