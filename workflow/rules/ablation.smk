# The epochs ablation of the paper's Figs. 7-8 (agem.pipeline.ablation): A_T and F_T after 1, 3, 10, 30
# epochs per task for VAN and EWC with a small and a big network. Optional, not part of `all`:
#
#   snakemake --cores 2 ablation_epochs --config 'ablation={datasets: [permuted_digits], methods: [van]}'
#
# Its runs are ordinary training jobs (rule train, with another network and epochs) written to
# results/ablation/runs/, apart from the main runs.

from agem.pipeline.ablation import ablation_runs, ablation_settings, check_ablation
from agem.report.paper import ABLATION_FIGURES

check_ablation(config)

ABLATION_RUNS = available(ablation_runs(config, RESULTS))


wildcard_constraints:
    network="[A-Za-z0-9_]+",
    epochs="[0-9]+",


if not REUSE_RUNS:

    def ablation_checkpoint_argument(wildcards) -> str:
        """Its own checkpoint: an ablation run must never resume from the main run's."""
        if not config["training"]["checkpoint"]:
            return ""
        return (f"--checkpoint {RESULTS}/ablation/checkpoints/{wildcards.dataset}/{wildcards.network}/"
                f"{wildcards.method}/epochs{wildcards.epochs}/seed{wildcards.seed}.pt")

    use rule train as train_ablation with:
        output:
            f"{RESULTS}/ablation/runs/{{dataset}}/{{network}}/{{method}}/epochs{{epochs}}/seed{{seed}}.h5",
        params:
            settings=lambda wildcards: to_json(ablation_settings(
                config, wildcards.dataset, wildcards.method, wildcards.network, int(wildcards.epochs))),
            checkpoint=ablation_checkpoint_argument,
            hparams_file=hparams_file_argument,
        log:
            f"{RESULTS}/logs/ablation/{{dataset}}/{{network}}/{{method}}/epochs{{epochs}}/seed{{seed}}.log",


rule ablation_epochs:
    """Target: Figs. 7-8 (A_T and F_T vs epochs, small vs big network) and their runs' table."""
    input:
        runs=ABLATION_RUNS,
        code=list(dict.fromkeys(FIGURE_CODE + TABLE_CODE)),
    output:
        [output for artefact in ABLATION_FIGURES for output in artefact_outputs(artefact, "figures", ("png", "pdf"), "Ablation")],
        table=f"{RESULTS}/tables/ablation_epochs.csv",
    params:
        datasets=artefact_datasets(ABLATION_FIGURES[0], config["ablation"]["datasets"]),
        methods=config["ablation"]["methods"],
        figures=[artefact.name for artefact in ABLATION_FIGURES],
    log:
        f"{RESULTS}/logs/figures/ablation_epochs.log",
    shell:
        "({PYTHON} {SCRIPTS}/make_figures.py --only {params.figures} --runs {input.runs} --datasets {params.datasets} "
        "--methods {params.methods} --out-dir {RESULTS}/figures && "
        "{PYTHON} {SCRIPTS}/make_tables.py --only ablation --runs {input.runs} --out-dir {RESULTS}/tables) > {log} 2>&1"
