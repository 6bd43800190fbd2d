rule train:
    """One pass over the stream's evaluation tasks with one method and one seed (paper Alg. 1)."""
    input:
        stream=f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
    output:
        f"{RESULTS}/runs/{{dataset}}/{{method}}/seed{{seed}}.h5",
    params:
        settings=lambda wildcards: to_json(job_settings(config, wildcards.dataset, wildcards.method)),
    threads: config["train_threads"]
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{method}}/seed{{seed}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/train.py --stream {input.stream} --seed {wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} --out {output} > {log} 2>&1"
