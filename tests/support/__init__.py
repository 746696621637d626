"""Helpers shared by the tests: the stand-ins' handles, a job runner, key pairs, metric lines.

Fixtures that start servers live in ``conftest.py``; what they hand out, and any helper
more than one test module uses, lives here (as XGBoost keeps ``xgboost/testing/``).
"""
