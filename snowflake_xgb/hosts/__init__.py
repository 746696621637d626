"""A job's hosts: rank, collectives across hosts (XGBoost's tracker and collective), liveness."""
