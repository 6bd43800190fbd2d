rule build_stream:
    """Cut a benchmark into its tasks (CV + evaluation) for one seed: one HDF5 task stream."""
    input:
        stream_images,
    output:
        f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
    params:
        spec=lambda wildcards: to_json(stream_spec(config, wildcards.dataset)),
        images=images_argument,
    resources:
        mem_mb=lambda wildcards: benchmark_resources(wildcards)["stream_mem_mb"],
        runtime=lambda wildcards, attempt: benchmark_resources(wildcards)["stream_runtime"] * attempt,
    log:
        f"{RESULTS}/logs/streams/{{dataset}}/seed{{seed}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/build_stream.py --dataset {wildcards.dataset} --seed {wildcards.seed} "
        "--spec {params.spec:q} --out {output} {params.images} > {log} 2>&1"
