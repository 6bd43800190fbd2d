# Raw data of the paper's benchmarks (docs/benchmarks.md#getting-the-data) and the images decoded from it once.
#
#   download      resources/raw/{raw_dataset}/verified.json   the original files, placed by hand or
#                                                             downloaded, checksums verified
#   build_images  results/images/{image_set}.h5               decoded, preprocessed images shared by
#                                                             the streams of every seed (and by a
#                                                             benchmark's -JE variant)
#
# The embedded digits benchmarks need neither: their streams depend on nothing.


rule download:
    """Provide a raw dataset in resources/raw/{raw_dataset}/: files placed there by hand are used
    as they are, missing ones downloaded; every checksum verified."""
    output:
        f"{RAW}/{{raw_dataset}}/verified.json",
    log:
        f"{RESULTS}/logs/download/{{raw_dataset}}.log",
    # Compute nodes of a cluster often have no internet: download on the submitting machine.
    localrule: True
    conda:
        AGEM_ENV
    params:
        python=PYTHON,
        script=script("download_data.py"),
        folder=output_folder,
        overrides=lambda wildcards: to_json(config.get("downloads", {}).get(wildcards.raw_dataset, {})),
    shell:
        "{params.python:q} {params.script:q} --dataset {wildcards.raw_dataset} --folder {params.folder:q} "
        "--overrides {params.overrides:q} > {log:q} 2>&1"


rule build_images:
    """Decode and preprocess a source's images once (resize, mean image, attributes)."""
    input:
        image_set_raw_files,
    output:
        f"{RESULTS}/images/{{image_set}}.h5",
    log:
        f"{RESULTS}/logs/images/{{image_set}}.log",
    conda:
        AGEM_ENV
    # One pass over the archive, images decoded straight to disk: AwA2's 37,322 JPEGs take hours
    # on one core, in little memory.
    resources:
        mem_mb=4000,
        runtime=480,
    params:
        python=PYTHON,
        script=script("build_images.py"),
        source=lambda wildcards: image_set_spec(wildcards)["source"],
        options=lambda wildcards: to_json(image_set_spec(wildcards).get("source_options", {})),
    shell:
        "{params.python:q} {params.script:q} --source {params.source} --options {params.options:q} --out {output:q} "
        "> {log:q} 2>&1"
