rule cv_train:
    """One point of the paper's hyper-parameter grid, trained on the CV tasks only (Alg. 1)."""
    input:
        stream=f"{RESULTS}/streams/{{dataset}}/seed{{seed}}.h5",
    output:
        f"{RESULTS}/cv/{{dataset}}/{{method}}/{{point}}/seed{{seed}}.h5",
    params:
        settings=lambda wildcards: to_json(
            job_settings(config, wildcards.dataset, wildcards.method,
                         hparams=grid_points(config, wildcards.dataset, wildcards.method)[wildcards.point], tasks="cv")
        ),
    threads: config["train_threads"]
    resources:
        **TRAIN_RESOURCES,
    log:
        f"{RESULTS}/logs/cv/{{dataset}}/{{method}}/{{point}}/seed{{seed}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/train.py --stream {input.stream} --seed {wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} --out {output} > {log} 2>&1"


rule cv_select:
    """The grid point with the best average accuracy on the CV tasks; evaluation runs train with it."""
    input:
        cv_run_files,
    output:
        f"{RESULTS}/cv/{{dataset}}/{{method}}.yaml",
    params:
        points=lambda wildcards: to_json(grid_points(config, wildcards.dataset, wildcards.method)),
    log:
        f"{RESULTS}/logs/cv/{{dataset}}/{{method}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/select_hparams.py --dataset {wildcards.dataset} --method {wildcards.method} "
        "--points {params.points:q} --runs {input} --out {output} > {log} 2>&1"
