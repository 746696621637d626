"""Snowflake credentials: the ``SNOWFLAKE_*`` environment and the Secrets Manager bootstrap
that fills it.
"""
