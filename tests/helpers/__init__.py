"""Shared test helpers: streams and runs made by hand, independent references, workflow runs."""
