"""The trained network as an MLflow model, defined from code: nothing is pickled.

network_model  the pyfunc model MLflow loads (plain .npz weights); save  writes a model folder;
card  a registered version's description and tags. May import ``scratchnn``, the stages (what
"best" means: ``stages.selection``) and MLflow's model API: logging the folder as a logged
model and registering it is the edge's job.
"""
