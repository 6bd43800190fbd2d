"""The paper's networks, built by name from the config, and progressive columns for PROG-NN."""
