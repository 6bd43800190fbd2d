"""What the Snakefile calls: the config's checks and the settings each job receives."""
