# Studies over many runs (agem.report.studies):
#
#   sweep               results/{experiment}/sweeps/{name}.{csv,md,png,pdf}   one per `sweeps` entry
#   task_length_study   results/{experiment}/study/task_length*.{csv,md,png,pdf}   with `task_length`
#
# Their runs are ordinary runs at their identities' paths (rule train), shared with every result set.


rule sweep:
    """A sweep's table and figure: A_T and F_T against the swept hyper-parameter values."""
    input:
        runs=lambda wildcards: available(SWEEP_RUN_FILES[wildcards.sweep]),
        code=STUDY_CODE,
    output:
        multiext(f"{OUT}/sweeps/{{sweep}}", ".csv", ".md", ".png", ".pdf"),
    log:
        f"{OUT}/logs/sweeps/{{sweep}}.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("make_sweep.py"),
        grid=lambda wildcards: to_json(config["sweeps"][wildcards.sweep]["grid"]),
        out_dir=output_folder,
    shell:
        "{params.python:q} {params.script:q} --name {wildcards.sweep} --grid {params.grid:q} --runs {input.runs:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule sweeps:
    """Target: every sweep of the config."""
    input:
        # With reuse_runs, a sweep none of whose runs exist has nothing to draw.
        expand(f"{OUT}/sweeps/{{sweep}}.md", sweep=[s for s in config["sweeps"] if available(SWEEP_RUN_FILES[s])]),


rule task_length_study:
    """A_T, F_T and time against steps per task; the A-GEM − GEM gap; the claims at every length."""
    input:
        runs=available(STUDY_RUN_FILES),
        code=STUDY_CODE,
    output:
        multiext(f"{OUT}/study/task_length", ".csv", ".md"),
        multiext(f"{OUT}/study/task_length_claims", ".csv", ".md"),
        multiext(f"{OUT}/study/task_length_accuracy", ".png", ".pdf"),
        multiext(f"{OUT}/study/task_length_gap", ".png", ".pdf"),
    log:
        f"{OUT}/logs/study/task_length.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("make_study.py"),
        steps=to_json(config["task_length"]),
        methods=config["methods"],
        out_dir=output_folder,
    shell:
        "{params.python:q} {params.script:q} --steps {params.steps:q} --runs {input.runs:q} "
        "--methods {params.methods:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
