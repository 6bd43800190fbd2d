# `snakemake --cores 1 bundle`: the run files (main and ablation) with a manifest of checksums,
# the config the runs were made with and package versions, in one archive (agem.runs.bundle). Import
# it elsewhere with `python scripts/bundle.py import results/{experiment}/bundle/agem-results.tar.gz`
# and rebuild with
# `snakemake --cores 2 artefacts --configfile results/imported/config.yaml --config reuse_runs=true`
# (the config names the experiment, so the tables come back in results/{experiment}/).


rule bundle:
    """Target: pack this experiment's runs (and its ablation runs) into one verifiable archive."""
    input:
        runs=available(run_files()),
        ablation=ABLATION_RUNS,
    output:
        BUNDLE,
    log:
        f"{OUT}/logs/bundle.log",
    localrule: True
    params:
        experiment=EXPERIMENT,
        # Only the order of the tables' rows: the runs do not record it.
        order=[*config["datasets"], *config["methods"]],
    run:
        from agem.runs.bundle import export_runs

        # The config is rebuilt from the identities the runs record (agem.runs.bundle_config), not
        # taken from this invocation, whose overrides need not be those the runs were made with.
        export_runs(output[0], [*input.runs, *input.ablation], params.experiment, order=params.order)
