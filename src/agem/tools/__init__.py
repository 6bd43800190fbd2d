"""Developer tools: the per-step benchmark and the GPU checks."""
