"""Training: the continual-learning loop, checkpoints, one job's runner, devices, cross-validation."""
