rule train:
    """One pass over the stream's evaluation tasks with one method and one seed (paper Alg. 1)."""
    input:
        stream=f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
        hparams=selected_hparams,
    output:
        f"{RESULTS}/runs/{{dataset}}/{{method}}/seed{{seed}}.h5",
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{method}}/seed{{seed}}.log",
    conda:
        AGEM_ENV
    threads: config["train_threads"]
    resources:
        **TRAIN_RESOURCES,
    params:
        python=PYTHON,
        script=script("train.py"),
        settings=lambda wildcards: to_json(job_settings(config, wildcards.dataset, wildcards.method)),
        checkpoint=checkpoint_argument,
        hparams_file=hparams_file_argument,
    shell:
        "{params.python} {params.script} --stream {input.stream} --seed {wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} --out {output} {params.checkpoint} {params.hparams_file} "
        "> {log} 2>&1"
