"""The host group: rank, collectives across hosts (XGBoost's tracker and collective), liveness."""
