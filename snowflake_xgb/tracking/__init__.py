"""Experiment tracking: the coordinator records the job as one MLflow run (``mlflow_run``)."""
