#!/usr/bin/env python
"""Published result sets (published/{name}/, agem.pipeline.published).

  published.py rebuild [NAME ...] [--into DIR]   rebuild every table and figure from the bundles, no training
  published.py readme [--check]                  rebuild, then write (or check) the README's result blocks
  published.py publish NAME --workdir DIR        bundle the run files of a finished result set (maintainers)
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from agem.pipeline.published import PUBLISHED, REPO, fill_readme, publish, readme_blocks, rebuild
from agem.runs.bundle import BundleError

README = REPO / "README.md"
# The README's figures: (result set, path in the rebuilt folder) -> docs/img/ file.
README_FIGURES = {
    ("default", "results/default/figures/fig3_accuracy_vs_tasks.png"): REPO / "docs" / "img" / "fig3_accuracy_vs_tasks.png",
    ("task_length", "results/task_length/study/task_length_accuracy.png"): REPO / "docs" / "img" / "task_length_accuracy.png",
}


def rebuild_sets(names: list[str], into: Path) -> dict[str, Path]:
    built = {}
    for name in names:
        folder = into / name
        if folder.exists():
            shutil.rmtree(folder)
        result = rebuild(name, folder)
        if result.returncode != 0:
            sys.exit(f"error: rebuilding published/{name} failed:\n{result.stderr[-3000:]}")
        print(f"rebuilt published/{name} in {folder}/results/{name}/")
        built[name] = folder
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("rebuild", help="rebuild published result sets without training")
    build.add_argument("names", nargs="*", help="default: every folder under published/")
    build.add_argument("--into", default="build/published", help="where to rebuild (default: build/published)")
    readme = commands.add_parser("readme", help="write the README's result blocks from the published runs")
    readme.add_argument("--check", action="store_true", help="only check that the README is up to date")
    make = commands.add_parser("publish", help="bundle a finished result set's run files into published/NAME")
    make.add_argument("name")
    make.add_argument("--workdir", required=True, help="the folder whose results/runs/ holds the runs")
    make.add_argument("--rebuild-config", help="YAML merged over the bundle's config when rebuilding (e.g. task_length)")
    args = parser.parse_args()
    names = sorted(p.name for p in PUBLISHED.iterdir() if (p / "agem-results.tar.gz").is_file())
    try:
        if args.command == "rebuild":
            rebuild_sets(args.names or names, Path(args.into))
        elif args.command == "publish":
            extra = yaml.safe_load(Path(args.rebuild_config).read_text()) if args.rebuild_config else {}
            print(f"wrote {publish(args.name, args.workdir, extra)}")
        else:
            with tempfile.TemporaryDirectory() as scratch:
                built = rebuild_sets(names, Path(scratch))
                text = fill_readme(README.read_text(encoding="utf-8"), readme_blocks(built))
                figures = {target: built[name] / path for (name, path), target in README_FIGURES.items() if name in built}
                if args.check:
                    stale = text != README.read_text(encoding="utf-8") or any(
                        not target.is_file() or target.read_bytes() != source.read_bytes() for target, source in figures.items())
                    if stale:
                        sys.exit("error: README.md or its figures differ from the published runs; run scripts/published.py readme")
                    print("README.md and its figures agree with the published runs")
                    return
                README.write_text(text, encoding="utf-8")
                for target, source in figures.items():
                    shutil.copyfile(source, target)
                print(f"wrote {README} and {len(figures)} figure(s)")
    except BundleError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
