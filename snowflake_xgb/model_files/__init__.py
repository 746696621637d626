"""What training writes and serving reads: the column encoding, the column selection, the model
files and AWS's XGBoost model format.
"""
