#!/usr/bin/env python
"""Train one method on one task stream with one seed and write its run file (rule train)."""

import argparse
import json
import sys

from agem.training.job_signals import JobKilled, killed_message, signals_raise_job_killed
from agem.training.runner import run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stream", required=True, help="task stream .h5 (rule build_stream)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--settings", required=True, help="job settings as JSON (agem.pipeline.config.job_settings)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and BLAS")
    parser.add_argument("--out", required=True, help="output run file .h5")
    parser.add_argument("--checkpoint", help="checkpoint file: saved at every task boundary, resumed from if present")
    parser.add_argument("--hparams-file", help="hyper-parameters chosen by cross-validation (rule cv_select), replacing the settings' ones")
    args = parser.parse_args()
    try:
        with signals_raise_job_killed():
            run_job(args.stream, args.seed, json.loads(args.settings), args.threads, args.out, args.checkpoint, args.hparams_file)
    except JobKilled as exc:
        print(killed_message(exc, args.checkpoint), file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    except (ValueError, RuntimeError, OSError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
