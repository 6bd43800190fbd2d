rule cv_train:
    """One point of the paper's hyper-parameter grid, trained on the CV tasks only (Alg. 1)."""
    input:
        stream=f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
    output:
        f"{RESULTS}/cv/{{dataset}}/{{method}}/{{point}}/seed{{seed}}.h5",
    log:
        f"{RESULTS}/logs/cv/{{dataset}}/{{method}}/{{point}}/seed{{seed}}.log",
    conda:
        AGEM_ENV
    threads: config["train_threads"]
    resources:
        **TRAIN_RESOURCES,
    params:
        python=PYTHON,
        script=script("train.py"),
        settings=lambda wildcards: to_json(
            job_settings(
                config,
                wildcards.dataset,
                wildcards.method,
                hparams=grid_points(config, wildcards.dataset, wildcards.method)[wildcards.point],
                tasks="cv",
            )
        ),
    shell:
        "{params.python:q} {params.script:q} --stream {input.stream:q} --seed {wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule cv_select:
    """The grid point with the best average accuracy on the CV tasks; evaluation runs train with it."""
    input:
        cv_run_files,
    output:
        f"{RESULTS}/cv/{{dataset}}/{{method}}.yaml",
    log:
        f"{RESULTS}/logs/cv/{{dataset}}/{{method}}.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("select_hparams.py"),
        points=lambda wildcards: to_json(grid_points(config, wildcards.dataset, wildcards.method)),
    shell:
        "{params.python:q} {params.script:q} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--points {params.points:q} --runs {input:q} --out {output:q} > {log:q} 2>&1"
