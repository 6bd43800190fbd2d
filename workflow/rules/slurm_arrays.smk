# Refuse SLURM job arrays that the jobs limit would turn into a silent hang.
#
# snakemake-executor-plugin-slurm 2.6.0-2.8.0 (upstream issue #473) submits the jobs of an
# array rule (--slurm-array-jobs) only when Snakemake hands it all of the rule's ready jobs, or at
# least --slurm-array-limit of them. A smaller batch is neither submitted nor given back: its jobs
# keep their --jobs slots for ever, and Snakemake waits without an error. Snakemake hands over
# every ready job at once only when --jobs is at least the number of jobs of the run, so anything
# less fails here, before a single job is submitted. See profiles/README.md.
#
# Included by the Snakefile; it does nothing unless the run uses the slurm executor with arrays.


onstart:
    array_rules = {
        name.strip()
        for name in (getattr(workflow.executor_settings, "array_jobs", None) or "").replace(";", ",").split(",")
        if name.strip()
    }
    if array_rules:
        jobs = list(workflow.dag.needrun_jobs())
        limit = workflow.resource_settings.nodes
        arrays = [job for job in jobs if "all" in array_rules or job.rule.name in array_rules]
        if len(arrays) > 1 and limit < len(jobs):
            raise WorkflowError(
                f"--slurm-array-jobs {','.join(sorted(array_rules))} with --jobs {limit} would hang: this run has "
                f"{len(jobs)} jobs, and snakemake-executor-plugin-slurm (issue #473) never submits array jobs "
                "that the jobs limit hands it in parts. Drop --slurm-array-jobs (the profile's default) or "
                f"raise --jobs to at least {len(jobs)}; see profiles/README.md."
            )
