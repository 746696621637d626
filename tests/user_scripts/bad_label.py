"""A test user script that asks for a column the result does not have."""

from snowflake_xgb import api

with api.join_hosts():
    api.load_quantile_dmatrix("SELECT * FROM DEMO.PUBLIC.CALIFORNIA_HOUSING", label="NOPE")
