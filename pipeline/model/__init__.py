"""The trained network as an MLflow model, defined from code: nothing is pickled.

network_model  the pyfunc model MLflow loads (plain .npz weights); save  writes a model folder;
card  a registered version's description and tags; scoring  the HTTP server ``make serve``
runs (each request checked against the model's input schema). May import ``scratchnn``, the
stages (what "best" means: ``stages.selection``), MLflow's model API, Starlette and uvicorn:
logging the folder as a logged model and registering it is the edge's job.
"""
