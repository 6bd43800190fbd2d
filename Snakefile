# agem-repro: "Efficient Lifelong Learning with A-GEM" (Chaudhry et al., ICLR 2019), end to end.
#
#   download / build  ->  one HDF5 task stream per benchmark and seed      (rules/streams.smk)
#   train             ->  one run file per benchmark x method x variant x seed (rules/train.smk)
#   aggregate         ->  the paper's tables, figures, reproduction summary (rules/aggregate.smk)
#   studies           ->  hyper-parameter sweeps, the task-length study     (rules/studies.smk)
#   ablation, report, bundle: Figs. 7-8, `snakemake --report`, the results archive (rules/*.smk)
#
# The config's checks, paths and every function the rules call: rules/common.smk.

import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.20")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "workflow/rules/common.smk"
# Refuses SLURM job arrays that the jobs limit would turn into a silent hang (profiles/README.md).
include: "workflow/rules/slurm_arrays.smk"


# reuse_runs: the run files under results/ are the input. No download, stream or training rule
# exists, so nothing can retrain: tables, figures and the report are rebuilt from existing runs.
if not config["reuse_runs"]:

    include: "workflow/rules/download.smk"
    include: "workflow/rules/streams.smk"
    include: "workflow/rules/cv.smk"
    include: "workflow/rules/train.smk"


include: "workflow/rules/aggregate.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bundle.smk"


onerror:
    # Stopped by SIGTERM/Ctrl-C, Snakemake reports a failure even if every job finished.
    if note := interrupted_run_note(log):
        print(note, file=sys.stderr)


rule all:
    default_target: True
    input:
        rules.tables.output,
        rules.artefacts.input,
        rules.sweeps.input,
        rules.task_length_study.output if available(STUDY_RUN_FILES) else [],
