# The epochs ablation of the paper's Figs. 7-8 (agem.pipeline.ablation): A_T and F_T after 1, 3, 10, 30
# epochs per task for VAN and EWC with a small and a big network. Optional, not part of `all`:
#
#   snakemake --cores 2 ablation_epochs --config 'ablation={datasets: [permuted_digits], methods: [van]}'
#
# Its runs are ordinary training jobs (rule train, with another network and epochs) written to
# results/ablation/runs/, apart from the main runs.

if not REUSE_RUNS:

    use rule train as train_ablation with:
        # Its own stream, always: the received-run exception of `train` (train_stream) is for the
        # main runs, which bundles carry without their streams.
        input:
            stream=f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
            hparams=selected_hparams,
        output:
            ABLATION_RUN,
        log:
            f"{RESULTS}/logs/ablation/{{dataset}}/{{network}}/{{method}}/epochs{{epochs}}/seed{{seed}}.log",
        params:
            settings=ablation_settings_argument,
            checkpoint=ablation_checkpoint_argument,
            hparams_file=hparams_file_argument,


rule ablation_epochs:
    """Target: Figs. 7-8 (A_T and F_T vs epochs, small vs big network) and their runs' table."""
    input:
        runs=ABLATION_RUNS,
        code=ABLATION_CODE,
    output:
        ABLATION_FIGURE_FILES,
        table=f"{OUT}/tables/ablation_epochs.csv",
    log:
        f"{OUT}/logs/figures/ablation_epochs.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        figures_script=script("make_figures.py"),
        tables_script=script("make_tables.py"),
        datasets=artefact_datasets(ABLATION_FIGURES[0], config["ablation"]["datasets"]),
        methods=config["ablation"]["methods"],
        figures=[artefact.name for artefact in ABLATION_FIGURES],
        figures_dir=output_folder,
        tables_dir=lambda wildcards, output: Path(output.table).parent.as_posix(),
    shell:
        "({params.python:q} {params.figures_script:q} --only {params.figures} --runs {input.runs:q} "
        "--datasets {params.datasets:q} --methods {params.methods:q} --out-dir {params.figures_dir:q} && "
        "{params.python:q} {params.tables_script:q} --only ablation --runs {input.runs:q} --out-dir {params.tables_dir:q}) "
        "> {log:q} 2>&1"
