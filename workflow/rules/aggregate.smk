# The paper's tables and figures, one rule per artefact (agem.report.paper.ARTEFACTS), each built from
# whatever runs of its datasets the config has: a dataset or method without runs is a gap.
#
#   tables        results/tables/main.*                   the main table (Table 4 layout), per-seed CSVs
#   table2..7     results/tables/table{N}_{topic}.*       paper vs ours, Δ in σ, verdict
#   summary       results/tables/reproduction_summary.*   verdict counts, the paper's claims
#   fig1..fig6    results/figures/fig{N}_{topic}.{png,pdf}
#   figures       results/figures/README.md               every figure with its caption
#   targets: paper_tables, artefacts (all of the above)
#
# Every rule also lists the code that draws it as input: editing a plotting module rebuilds the
# figures (mtime), and never a run. With `--config reuse_runs=true` no training rule exists at
# all (Snakefile), which is the documented way to rebuild without retraining.

from agem.pipeline.run_checks import check_existing_runs
from agem.report.paper import FIGURES, SUMMARY_STEM, TABLES, artefact_datasets

REUSE_RUNS = config["reuse_runs"]

# Damaged run files are found before the job graph is built, so that the tables' job never starts
# (Snakemake would delete the previous tables first): agem.pipeline.run_checks.
check_existing_runs(run_files(), REUSE_RUNS)
REPO = Path(workflow.basedir)
PAPER_RESULTS = REPO / "config" / "paper_results.yaml"
REPORT_CAPTIONS = REPO / "workflow" / "report"


def code(*paths: str) -> list[Path]:
    return [REPO / path for path in paths]


TABLE_CODE = code("src/agem/report/tables.py", "src/agem/report/frames.py", "src/agem/report/labels.py",
                  "src/agem/report/paper.py", "src/agem/report/paper_tables.py", "src/agem/report/memory_formulas.py",
                  "src/agem/runs/metrics.py", "src/agem/runs/runfile.py", "scripts/make_tables.py",
                  "scripts/aggregation_cli.py", "config/paper_results.yaml", "workflow/schemas/paper_results.schema.yaml")
FIGURE_CODE = code("src/agem/report/figures.py", "src/agem/report/frames.py", "src/agem/report/labels.py",
                   "src/agem/runs/metrics.py", "src/agem/report/paper.py", "src/agem/runs/runfile.py",
                   "scripts/make_figures.py", "scripts/aggregation_cli.py")
SUMMARY_CODE = code("src/agem/report/claims.py", "src/agem/report/paper.py", "scripts/make_summary.py", "config/paper_results.yaml")


def available(paths: list[str]) -> list[str]:
    """With reuse_runs the run files are given, not made: the ones that exist (a missing one is
    a gap in the tables and figures). Otherwise all of them, trained where missing."""
    return [path for path in paths if Path(path).exists()] if REUSE_RUNS else list(paths)


def runs_of(artefact) -> list[str]:
    """The config's run files of the datasets an artefact shows."""
    shown = set(artefact_datasets(artefact, config["datasets"]))
    return [path for path in available(run_files()) if Path(path).parts[-3] in shown]


def artefact_outputs(artefact, folder: str, extensions: tuple[str, ...], category: str) -> list:
    """The artefact's files; the first extension of each stem goes into the report with its caption."""
    outputs = []
    for stem in artefact.stems:
        outputs.append(report(f"{RESULTS}/{folder}/{stem}.{extensions[0]}",
                              caption=str(REPORT_CAPTIONS / f"{stem}.rst"), category=category))
        outputs += [f"{RESULTS}/{folder}/{stem}.{extension}" for extension in extensions[1:]]
    return outputs


rule tables:
    """The paper's Table 4 layout: A_T, F_T, LCA_10 (mean ± std over seeds), time and memory."""
    input:
        runs=available(run_files()),
        code=TABLE_CODE,
    output:
        [f"{RESULTS}/tables/{name}" for name in ("main.csv", "main.md", "main.tex", "metrics_per_seed.csv")],
    params:
        datasets=config["datasets"],
        methods=config["methods"],
    log:
        f"{RESULTS}/logs/tables.log",
    shell:
        "{PYTHON} {SCRIPTS}/make_tables.py --runs {input.runs} --datasets {params.datasets} "
        "--methods {params.methods} --out-dir {RESULTS}/tables > {log} 2>&1"


for artefact in TABLES:

    rule:
        name:
            artefact.name
        input:
            runs=runs_of(artefact),
            code=TABLE_CODE,
        output:
            artefact_outputs(artefact, "tables", ("csv", "md", "tex"), "Tables"),
        params:
            name=artefact.name,
            datasets=config["datasets"],
            methods=config["methods"],
        log:
            f"{RESULTS}/logs/tables/{artefact.name}.log",
        shell:
            "{PYTHON} {SCRIPTS}/make_tables.py --only {params.name} --runs {input.runs} "
            "--datasets {params.datasets} --methods {params.methods} --paper {PAPER_RESULTS} "
            "--out-dir {RESULTS}/tables > {log} 2>&1"


PAPER_TABLE_CSVS = [f"{RESULTS}/tables/{artefact.stems[0]}.csv" for artefact in TABLES]


rule summary:
    """One page: verdict counts per table and which of the paper's claims hold in this run."""
    input:
        tables=PAPER_TABLE_CSVS,
        code=SUMMARY_CODE,
    output:
        report(f"{RESULTS}/tables/{SUMMARY_STEM}.csv", caption=str(REPORT_CAPTIONS / f"{SUMMARY_STEM}.rst"),
               category="Reproduction summary"),
        f"{RESULTS}/tables/{SUMMARY_STEM}.md",
    log:
        f"{RESULTS}/logs/tables/summary.log",
    shell:
        "{PYTHON} {SCRIPTS}/make_summary.py --tables {input.tables} --paper {PAPER_RESULTS} "
        "--out-dir {RESULTS}/tables > {log} 2>&1"


for artefact in FIGURES:

    rule:
        name:
            artefact.name
        input:
            runs=runs_of(artefact),
            code=FIGURE_CODE,
        output:
            artefact_outputs(artefact, "figures", ("png", "pdf"), "Figures"),
        params:
            name=artefact.name,
            datasets=artefact_datasets(artefact, config["datasets"]),
            methods=config["methods"],
        log:
            f"{RESULTS}/logs/figures/{artefact.name}.log",
        shell:
            "{PYTHON} {SCRIPTS}/make_figures.py --only {params.name} --runs {input.runs} "
            "--datasets {params.datasets} --methods {params.methods} --out-dir {RESULTS}/figures > {log} 2>&1"


rule paper_tables:
    """Target: the paper's Tables 2-7 side by side with ours, and the reproduction summary."""
    input:
        [getattr(rules, artefact.name).output for artefact in TABLES],
        rules.summary.output,


rule figures:
    """The paper's Figures 1-6 and results/figures/README.md, each with its caption."""
    input:
        figures=[getattr(rules, artefact.name).output for artefact in FIGURES],
        code=code("src/agem/report/gallery.py", "scripts/make_gallery.py"),
    output:
        f"{RESULTS}/figures/README.md",
    log:
        f"{RESULTS}/logs/figures/gallery.log",
    shell:
        "{PYTHON} {SCRIPTS}/make_gallery.py --figures {input.figures} --captions {REPORT_CAPTIONS} "
        "--out {output} > {log} 2>&1"


rule artefacts:
    """Target: every table and figure of the paper (what `all` builds after training)."""
    input:
        rules.tables.output,
        rules.paper_tables.input,
        rules.figures.output,
