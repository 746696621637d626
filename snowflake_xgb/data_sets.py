"""The names of a job's data sets, in one place.

A data set has two names: what the job reads (``training``, ``validation``, ``fold-<k>``: the
keys of query ids, shard reports and log lines) and what XGBoost evaluates (``train``,
``validation``: the prefixes of the metric lines, ``train-rmse``, that SageMaker's metric
definitions and users' tuning jobs parse).
"""

TRAINING, VALIDATION = "training", "validation"
TRAIN_EVAL, VALIDATION_EVAL = "train", "validation"
