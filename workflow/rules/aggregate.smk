# The paper's tables and figures, one rule per artefact (agem.report.paper.ARTEFACTS), each built from
# whatever runs of its datasets the config has: a dataset or method without runs is a gap.
#
#   tables        results/{experiment}/tables/main.*                  the main table (Table 4 layout; .html in the report), per-seed CSVs
#   table2..7     results/{experiment}/tables/table{N}_{topic}.*      paper vs ours, Δ in σ, verdict
#   summary       results/{experiment}/tables/reproduction_summary.*  verdict counts, the paper's claims
#   fig1..fig6    results/{experiment}/figures/fig{N}_{topic}.{png,pdf}
#   figures       results/{experiment}/figures/README.md              every figure with its caption
#
# {experiment}: this configuration's result set (agem.pipeline.experiment); the runs it reads are
# shared by every experiment under results/runs/.
#   targets: paper_tables, artefacts (all of the above)
#
# Every rule also lists the code that draws it as input (common.smk): editing a plotting module
# rebuilds the figures (mtime), and never a run. With `--config reuse_runs=true` no training rule
# exists at all (Snakefile), which is the documented way to rebuild without retraining.
#
# Every rule here is a local rule (`localrule: True`): seconds of reading run files and drawing,
# not worth a cluster queue's round trip (profiles/README.md, "What runs where").


rule tables:
    """The paper's Table 4 layout: A_T, F_T, LCA_10 (mean ± std over seeds), time and memory."""
    input:
        runs=available(run_files()),
        code=TABLE_CODE,
    output:
        captioned(f"{OUT}/tables/main.html", "main", "Tables"),
        MAIN_TABLE_FILES,
    log:
        f"{OUT}/logs/tables.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("make_tables.py"),
        datasets=config["datasets"],
        methods=config["methods"],
        out_dir=output_folder,
    shell:
        "{params.python:q} {params.script:q} --runs {input.runs:q} --datasets {params.datasets:q} "
        "--methods {params.methods:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


for artefact in TABLES:

    rule:
        name:
            artefact.name
        input:
            runs=runs_of(artefact),
            code=TABLE_CODE,
        output:
            # HTML first: the report shows the readable side-by-side table, not the long CSV.
            artefact_outputs(artefact, "tables", ("html", "csv", "md", "tex"), "Tables", in_report=drawn(artefact)),
        log:
            f"{OUT}/logs/tables/{artefact.name}.log",
        localrule: True
        conda:
            AGEM_ENV
        params:
            python=PYTHON,
            script=script("make_tables.py"),
            name=artefact.name,
            datasets=config["datasets"],
            methods=config["methods"],
            paper=PAPER_RESULTS,
            out_dir=output_folder,
        shell:
            "{params.python:q} {params.script:q} --only {params.name} --runs {input.runs:q} "
            "--datasets {params.datasets:q} --methods {params.methods:q} --paper {params.paper:q} "
            "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule summary:
    """One page: verdict counts per table and which of the paper's claims hold in this run."""
    input:
        tables=PAPER_TABLE_CSVS,
        code=SUMMARY_CODE,
    output:
        SUMMARY_FILES,
    log:
        f"{OUT}/logs/tables/summary.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("make_summary.py"),
        paper=PAPER_RESULTS,
        out_dir=output_folder,
    shell:
        "{params.python:q} {params.script:q} --tables {input.tables:q} --paper {params.paper:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


for artefact in FIGURES:

    rule:
        name:
            artefact.name
        input:
            runs=runs_of(artefact),
            code=FIGURE_CODE,
        output:
            artefact_outputs(artefact, "figures", ("png", "pdf"), "Figures"),
        log:
            f"{OUT}/logs/figures/{artefact.name}.log",
        localrule: True
        conda:
            AGEM_ENV
        params:
            python=PYTHON,
            script=script("make_figures.py"),
            name=artefact.name,
            datasets=artefact_datasets(artefact, config["datasets"]),
            methods=config["methods"],
            out_dir=output_folder,
        shell:
            "{params.python:q} {params.script:q} --only {params.name} --runs {input.runs:q} "
            "--datasets {params.datasets:q} --methods {params.methods:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule paper_tables:
    """Target: the paper's Tables 2-7 side by side with ours, and the reproduction summary."""
    input:
        [getattr(rules, artefact.name).output for artefact in TABLES],
        rules.summary.output,


rule figures:
    """The paper's Figures 1-6 and results/{experiment}/figures/README.md, each with its caption."""
    input:
        figures=[getattr(rules, artefact.name).output for artefact in FIGURES if drawn(artefact)],
        code=GALLERY_CODE,
    output:
        f"{OUT}/figures/README.md",
    log:
        f"{OUT}/logs/figures/gallery.log",
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("make_gallery.py"),
        captions=REPORT_CAPTIONS,
        not_run=[stem for artefact in FIGURES if not drawn(artefact) for stem in artefact.stems],
    shell:
        "{params.python:q} {params.script:q} --figures {input.figures:q} --not-run {params.not_run:q} "
        "--captions {params.captions:q} --out {output:q} > {log:q} 2>&1"


rule artefacts:
    """Target: every table and figure of the paper (what `all` builds after training)."""
    input:
        rules.tables.output,
        rules.paper_tables.input,
        rules.figures.output,
