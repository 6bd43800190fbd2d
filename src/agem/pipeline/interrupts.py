"""Snakemake's last words after it was stopped by a signal, explained (the Snakefile's onerror).

On SIGTERM or a first Ctrl-C, Snakemake lets its running jobs finish, then exits 1 with "At
least one job did not complete successfully", even when every job did. Its log then holds
"Will exit after finishing currently running jobs"; this adds what the user needs to know.
"""

from __future__ import annotations

from pathlib import Path

STOPPED_MARKERS = ("Will exit after finishing currently running jobs", "Terminating processes on user request")


def interrupted_run_note(snakemake_logs: str | Path | list | None) -> str | None:
    """The explanation to print if the run was stopped by a signal, else None.

    ``snakemake_logs``: the ``log`` of onerror, a list of log files in Snakemake 9, one path before.
    """
    paths = snakemake_logs if isinstance(snakemake_logs, (list, tuple)) else [snakemake_logs]
    text = ""
    for path in filter(None, paths):
        try:
            text += Path(path).read_text(errors="replace")
        except OSError:
            continue
    if not any(marker in text for marker in STOPPED_MARKERS):
        return None
    return ("note: snakemake was stopped by a signal (SIGTERM or Ctrl-C), which it reports as a failed job even when "
            "its running jobs finished: their outputs are kept, and `snakemake -n` lists what is left to do. A training "
            "job killed mid-way says so in its log ('killed by signal …') and resumes from its checkpoint on the next run.")
