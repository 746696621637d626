"""Snowflake: sessions, the SQL a job runs, the coordinator's plan of queries (submitted once
and shared) and the record of what a job read (data snapshot).
"""
