# agem-repro: "Efficient Lifelong Learning with A-GEM" (Chaudhry et al., ICLR 2019), end to end.
#
#   download / build  ->  one HDF5 task stream per benchmark and seed      (rules/streams.smk)
#   train             ->  one run file per benchmark x method x seed        (rules/train.smk)
#   aggregate         ->  the paper's main table and figures                (rules/aggregate.smk)

from pathlib import Path

from snakemake.utils import min_version, validate

from agem.config import check_config, coerce_command_line_values

min_version("8.20")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


coerce_command_line_values(config)
validate(config, "workflow/schemas/config.schema.yaml")
check_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/streams.smk"
include: "workflow/rules/cv.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    input:
        rules.tables.output,
        rules.figures.output,
