rule train:
    """One pass over the stream's evaluation tasks with one method, one variant (its resolved
    settings, agem.runs.identity) and one seed (paper Alg. 1)."""
    input:
        stream=train_stream,
        hparams=selected_hparams,
    output:
        f"{RESULTS}/runs/{{dataset}}/{{method}}/{{variant}}/seed{{seed}}.h5",
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{method}}/{{variant}}/seed{{seed}}.log",
    conda:
        AGEM_ENV
    threads: config["train_threads"]
    resources:
        **TRAIN_RESOURCES,
    params:
        python=PYTHON,
        script=script("train.py"),
        settings=train_settings,
        checkpoint=checkpoint_argument,
        hparams_file=hparams_file_argument,
    shell:
        "{params.python:q} {params.script:q} --stream {input.stream:q} --seed {wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} --out {output:q} {params.checkpoint} {params.hparams_file} "
        "> {log:q} 2>&1"
