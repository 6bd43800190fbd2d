TABLES = [f"{RESULTS}/tables/{name}" for name in ("main.csv", "main.md", "main.tex", "metrics_per_seed.csv")]
FIGURES = [
    f"{RESULTS}/figures/{name}.{ext}"
    for name in ("fig1_bars", "fig3_accuracy_vs_tasks", "fig3_lca_vs_beta", "fig6_violations")
    for ext in ("png", "pdf")
]


rule tables:
    """The paper's Table 4 layout: A_T, F_T, LCA_10 (mean ± std over seeds), time and memory."""
    input:
        run_files,
    output:
        TABLES,
    params:
        datasets=config["datasets"],
        methods=config["methods"],
    log:
        f"{RESULTS}/logs/tables.log",
    shell:
        "{PYTHON} {SCRIPTS}/make_tables.py --runs {input} --datasets {params.datasets} "
        "--methods {params.methods} --out-dir {RESULTS}/tables > {log} 2>&1"


rule figures:
    """Figures 1, 3 (top and bottom) and 6 of the paper."""
    input:
        run_files,
    output:
        FIGURES,
    params:
        datasets=config["datasets"],
        methods=config["methods"],
    log:
        f"{RESULTS}/logs/figures.log",
    shell:
        "{PYTHON} {SCRIPTS}/make_figures.py --runs {input} --datasets {params.datasets} "
        "--methods {params.methods} --out-dir {RESULTS}/figures > {log} 2>&1"
