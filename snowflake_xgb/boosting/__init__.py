"""Training itself: metric lines, checkpoints, interruption (SIGTERM, spot) and cross-validation."""
