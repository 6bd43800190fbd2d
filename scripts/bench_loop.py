#!/usr/bin/env python
"""Speed benchmark (not a test): a real training job's cost per step against the per-step
bench's, for VAN and A-GEM, measured side by side in CPU time (agem.tools.loop_bench)."""

import argparse
import json
import sys
from pathlib import Path

from agem.tools.loop_bench import LoopBenchSettings, format_loop_report, run_loop_benchmark


def main() -> None:
    defaults = LoopBenchSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=defaults.n_tasks, help="tasks of the synthetic Permuted-MNIST-shaped stream")
    parser.add_argument("--train-size", type=int, default=defaults.n_train, help="training examples per task")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="interleaved rounds (job and bench each round)")
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    if args.tasks < 2 or args.train_size < 10 or args.rounds < 1 or args.threads < 1:
        sys.exit("error: need --tasks >= 2, --train-size >= 10, --rounds >= 1, --threads >= 1")
    report = run_loop_benchmark(LoopBenchSettings(n_tasks=args.tasks, n_train=args.train_size, rounds=args.rounds, threads=args.threads))
    print(format_loop_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
