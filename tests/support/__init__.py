"""Helpers shared by the tests: the stand-ins' handles, a job runner, key pairs, metric lines,
and in-memory fakes of the Snowflake session and of the connector calls it makes (fast unit
tests of the branches the job tests reach only through ``train``).

Fixtures that start servers live in ``conftest.py``; what they hand out, and any helper
more than one test module uses, lives here (as XGBoost keeps ``xgboost/testing/``).
"""
