# `snakemake --cores 1 bundle`: the run files (main and ablation) with a manifest of checksums,
# the resolved config and package versions, in one archive (agem.runs.bundle). Import it elsewhere with
# `python scripts/bundle.py import results/{experiment}/bundle/agem-results.tar.gz` and rebuild with
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
    run:
        # The config the runs were made with; reuse_runs describes this invocation, not the runs.
        resolved = {key: value for key, value in config.items() if key != "reuse_runs"}
        export_bundle(output[0], [*input.runs, *input.ablation], resolved)
