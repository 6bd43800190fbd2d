# Raw data of the paper's benchmarks (docs/benchmarks.md#getting-the-data) and the images decoded from it once.
#
#   download      resources/raw/{raw_dataset}/verified.json   the original files, placed by hand or
#                                                             downloaded, checksums verified
#   build_images  results/images/{image_set}.h5               decoded, preprocessed images shared by
#                                                             the streams of every seed (and by a
#                                                             benchmark's -JE variant)
#
# The embedded digits benchmarks need neither: their streams depend on nothing.

import hashlib

from agem.data.datasets import RAW_DATASETS, SOURCES, raw_folder, source_files

RAW = "resources/raw"


wildcard_constraints:
    raw_dataset="|".join(RAW_DATASETS),
    image_set="[A-Za-z0-9_]+-[0-9a-f]{10}",


def image_set(dataset: str) -> str | None:
    """Name of a benchmark's image file: its source and a digest of its source_options."""
    spec = config["benchmarks"][dataset]
    if not SOURCES[spec["source"]].image_file:
        return None
    digest = hashlib.sha256(to_json(spec.get("source_options", {})).encode()).hexdigest()[:10]
    return f"{spec['source']}-{digest}"


def image_set_spec(wildcards) -> dict:
    for dataset, spec in config["benchmarks"].items():
        if image_set(dataset) == wildcards.image_set:
            return spec
    raise ValueError(f"no benchmark in the config has image set {wildcards.image_set!r}")


def image_set_raw_files(wildcards) -> list[str]:
    spec = image_set_spec(wildcards)
    folder = raw_folder(spec["source"])
    # Bring-your-own files (source idx, fashion_mnist) are inputs too: editing one rebuilds.
    own_files = source_files(spec["source"], spec.get("source_options", {}))
    return ([] if folder is None else [f"{folder}/verified.json"]) + own_files


def stream_images(wildcards) -> list[str]:
    """The image file a benchmark's streams link to (none for the embedded digits)."""
    name = image_set(wildcards.dataset)
    return [] if name is None else [f"{RESULTS}/images/{name}.h5"]


def images_argument(wildcards) -> str:
    return " ".join(f"--images {path}" for path in stream_images(wildcards))


rule download:
    """Provide a raw dataset in resources/raw/{raw_dataset}/: files placed there by hand are used
    as they are, missing ones downloaded; every checksum verified."""
    output:
        f"{RAW}/{{raw_dataset}}/verified.json",
    params:
        overrides=lambda wildcards: to_json(config.get("downloads", {}).get(wildcards.raw_dataset, {})),
    # Compute nodes of a cluster often have no internet: download on the submitting machine.
    localrule: True
    log:
        f"{RESULTS}/logs/download/{{raw_dataset}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/download_data.py --dataset {wildcards.raw_dataset} --folder {RAW}/{wildcards.raw_dataset} "
        "--overrides {params.overrides:q} > {log} 2>&1"


rule build_images:
    """Decode and preprocess a source's images once (resize, mean image, attributes)."""
    input:
        image_set_raw_files,
    output:
        f"{RESULTS}/images/{{image_set}}.h5",
    params:
        source=lambda wildcards: image_set_spec(wildcards)["source"],
        options=lambda wildcards: to_json(image_set_spec(wildcards).get("source_options", {})),
    # One pass over the archive, images decoded straight to disk: AwA2's 37,322 JPEGs take hours
    # on one core, in little memory.
    resources:
        mem_mb=4000,
        runtime=480,
    log:
        f"{RESULTS}/logs/images/{{image_set}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/build_images.py --source {params.source} --options {params.options:q} --out {output} > {log} 2>&1"
