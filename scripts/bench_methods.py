#!/usr/bin/env python
"""Speed benchmark (not a test): per-step cost of every method, relative to VAN's, and of A-GEM
and GEM against their bare passes.

Prints a table of ms/step, each method's step cost / VAN's, and the ratios the project targets
(docs/reproduction.md#cost); see agem.tools.bench.
"""

import argparse
import json
import sys
from pathlib import Path

from agem.tools.bench import BenchSettings, format_report, run_benchmark


def main() -> None:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch and BLAS threads (default 1)")
    parser.add_argument("--device", default=defaults.device, choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed steps per case first")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="interleaved rounds the timed steps are split over")
    parser.add_argument("--past-tasks", type=int, nargs="+", default=defaults.past_tasks, help="memory of this many past tasks")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0 or not 1 <= args.rounds <= args.repeats or min(args.past_tasks) < 1:
        sys.exit("error: need --threads >= 1, --repeats >= 1, --warmup >= 0, 1 <= --rounds <= --repeats, --past-tasks >= 1")
    settings = BenchSettings(
        past_tasks=args.past_tasks, repeats=args.repeats, warmup=args.warmup, rounds=args.rounds,
        threads=args.threads, device=args.device, seed=args.seed,
    )
    try:
        report = run_benchmark(settings)
    except (ValueError, RuntimeError) as exc:
        sys.exit(f"error: {exc}")
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
