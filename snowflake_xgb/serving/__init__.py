"""Serving a trained model on the SageMaker hosting contract (``serve``).

Reads only what training wrote to the model folder (``xgboost-model``, ``metadata.json``):

``server_config`` (environment) -> ``model`` (load, predict) -> ``payloads`` (request body ->
columns) -> ``features`` (columns -> float32 matrix) -> ``responses`` (predictions -> body),
joined by ``app`` (HTTP routes) and started by ``command`` (gunicorn).
"""
