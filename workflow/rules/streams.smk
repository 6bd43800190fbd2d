rule build_stream:
    """Cut a benchmark into its tasks (CV + evaluation) for one seed: one HDF5 task stream."""
    input:
        stream_images,
    output:
        f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
    log:
        f"{RESULTS}/logs/streams/{{dataset}}/seed{{seed}}.log",
    conda:
        AGEM_ENV
    resources:
        mem_mb=lambda wildcards: benchmark_resources(wildcards)["stream_mem_mb"],
        runtime=lambda wildcards, attempt: benchmark_resources(wildcards)["stream_runtime"] * attempt,
    params:
        python=PYTHON,
        script=script("build_stream.py"),
        spec=lambda wildcards: to_json(stream_spec(config, wildcards.dataset)),
        images=images_argument,
    shell:
        "{params.python:q} {params.script:q} --dataset {wildcards.dataset} --seed {wildcards.seed} "
        "--spec {params.spec:q} --out {output:q} {params.images} > {log:q} 2>&1"
