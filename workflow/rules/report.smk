# `snakemake --report report.html` (or .zip): every table and figure of the paper with a caption
# (workflow/report/*.rst) saying what it shows and which paper artefact it reproduces. The
# captions are attached where the artefacts are made (aggregate.smk, ablation.smk).


report: str(REPORT_CAPTIONS / "workflow.rst")
