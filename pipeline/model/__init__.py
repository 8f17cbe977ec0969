"""The trained network as an MLflow model, defined from code: nothing is pickled.

network_model  the pyfunc model MLflow loads (plain .npz weights); save  writes a model folder.
May import ``scratchnn`` and MLflow's model API: logging the folder to a run is the edge's job.
"""
