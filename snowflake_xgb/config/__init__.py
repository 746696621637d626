"""The job's configuration: the settings table, how settings fit together (what data to read, how
to train) and XGBoost's own parameters. Validated before any network call; no I/O.
"""
