# agem-repro: "Efficient Lifelong Learning with A-GEM" (Chaudhry et al., ICLR 2019), end to end.
#
#   download / build  ->  one HDF5 task stream per benchmark and seed      (rules/streams.smk)
#   train             ->  one run file per benchmark x method x seed        (rules/train.smk)
#   aggregate         ->  the paper's tables, figures, reproduction summary (rules/aggregate.smk)
#   ablation, report, bundle: Figs. 7-8, `snakemake --report`, the results archive (rules/*.smk)

from pathlib import Path

from snakemake.utils import min_version, validate

from agem.pipeline.config import check_config, coerce_command_line_values, validate_config

min_version("8.20")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


coerce_command_line_values(config)
# One line naming the key, the problem and the fix (Snakemake's validate would print the whole
# schema and config); validate then only fills in the schema's defaults.
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
validate(config, "workflow/schemas/config.schema.yaml")
check_config(config, jobs_run_here=workflow.local_exec or workflow.remote_exec)


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
include: "workflow/rules/ablation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bundle.smk"


rule all:
    input:
        rules.tables.output,
        rules.artefacts.input,
