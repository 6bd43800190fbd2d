"""Run files, the contract between training and reporting: their format, metrics and bundles."""
