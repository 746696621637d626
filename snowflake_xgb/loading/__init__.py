"""This host's slice of each result -> XGBoost matrices: the split arithmetic, the downloads,
the Arrow slices, float32 blocks and the matrices built from them.
"""
