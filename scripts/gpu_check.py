#!/usr/bin/env python
"""Compare A-GEM and GEM on CUDA with the CPU and time a Permuted-MNIST-sized A-GEM run."""

import argparse
import sys
from pathlib import Path

import torch

from agem.tools.gpu_check import report, run_checks, to_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda", help="device to compare with the CPU (default: cuda)")
    parser.add_argument("--tasks", type=int, default=17, help="tasks of the timed run (paper: 17)")
    parser.add_argument("--train-size", type=int, default=55_000, help="training images per task (paper: 55,000)")
    parser.add_argument("--no-timing", action="store_true", help="skip the timed run")
    parser.add_argument("--step-repeats", type=int, default=20, help="timed steps per A-GEM/GEM step case (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available on this machine: GPU checks not run.")
        return
    result = run_checks(torch.device(args.device), args.tasks, args.train_size, timed=not args.no_timing, step_repeats=args.step_repeats)
    print(report(result))
    if args.json:
        args.json.write_text(to_json(result))
    if not result.passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
