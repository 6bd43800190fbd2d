"""Where the pipeline writes, relative to its working directory (Snakemake's ``--directory``).

Spelled here once: the rules (workflow/rules/common.smk) and the library code that finds their
files again (the results bundle, the ablation's run list) all read it. The raw data's folder is
:data:`agem.data.datasets.raw.RAW_ROOT`, beside the code that reads it.
"""

RESULTS = "results"
