"""The paper's tables, figures and reproduction summary, built from run files."""
