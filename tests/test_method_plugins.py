"""Methods from outside the package (agem.methods.plugins): the config's ``method_modules`` and
the ``agem_repro.methods`` entry points register by name before the config check; a module that
fails to import or registers nothing stops it with a clear message; jobs import the module again."""

import copy
import subprocess
import sys
import textwrap

import pytest
from snakemake.utils import validate

from agem.methods import METHODS, plugins
from agem.pipeline.config import ConfigError, check_config, job_settings
from helpers.configs import REPO, default_config_with_every_benchmark

TOY = textwrap.dedent('''
    from dataclasses import dataclass
    from agem.methods import ContinualMethod, Hyperparameters, hparam, register

    @dataclass
    class ToyHyperparameters(Hyperparameters):
        scale: float = hparam(1.0, gt=0)

    @register("{name}")
    class Toy(ContinualMethod):
        Hyperparameters = ToyHyperparameters
''')


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for the test's modules; the registry, the sources and sys.modules are
    restored afterwards, so no other test sees the toy methods."""
    methods, sources, modules = dict(METHODS), dict(plugins.METHOD_SOURCES), set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    METHODS.clear()
    METHODS.update(methods)
    plugins.METHOD_SOURCES.clear()
    plugins.METHOD_SOURCES.update(sources)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def config_running(method: str, modules: list[str], hparams: dict) -> dict:
    config = default_config_with_every_benchmark()
    config.update(datasets=["split_digits"], methods=["van", method], method_modules=modules)
    config["hparams"]["split_digits"][method] = hparams
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return copy.deepcopy(config)


def test_config_module_registers_by_name_and_its_jobs_import_it(site):
    (site / "my_lab_toy.py").write_text(TOY.format(name="toy"))
    config = config_running("toy", ["my_lab_toy"], {"lr": 0.1, "scale": 2.0})
    check_config(config, jobs_run_here=False)
    assert METHODS["toy"].__module__ == "my_lab_toy"
    assert job_settings(config, "split_digits", "toy")["method_module"] == "my_lab_toy"
    # A built-in method's settings are unchanged (no retraining because a module was added).
    assert "method_module" not in job_settings(config, "split_digits", "van")
    # Its hyper-parameters are checked like a built-in method's, ranges included.
    config["hparams"]["split_digits"]["toy"]["scale"] = 0
    with pytest.raises(ConfigError, match=r"hparams\.split_digits\.toy: scale must be a finite number > 0"):
        check_config(config, jobs_run_here=False)


def test_module_that_fails_to_import_is_named_with_the_fix(site):
    (site / "broken_toy.py").write_text("import numpy\nraise RuntimeError('no GPU driver')\n")
    config = config_running("toy", ["broken_toy"], {"lr": 0.1})
    with pytest.raises(ConfigError, match=r"method_modules: cannot import 'broken_toy': RuntimeError: no GPU driver .*PYTHONPATH"):
        check_config(config, jobs_run_here=False)
    config["method_modules"] = ["not_there_at_all"]
    with pytest.raises(ConfigError, match=r"cannot import 'not_there_at_all': ModuleNotFoundError"):
        check_config(config, jobs_run_here=False)


def test_module_that_registers_nothing_is_an_error(site):
    (site / "empty_toy.py").write_text("from agem.methods import ContinualMethod\n\nclass Forgotten(ContinualMethod):\n    pass\n")
    config = config_running("agem", ["empty_toy"], {"lr": 0.1})
    with pytest.raises(ConfigError, match=r"module 'empty_toy' registers no method; decorate .*@register"):
        check_config(config, jobs_run_here=False)


def test_a_name_taken_by_a_built_in_method_is_refused(site):
    (site / "clash_toy.py").write_text(TOY.format(name="agem"))
    with pytest.raises(plugins.MethodModuleError, match=r"registered twice"):
        plugins.load_method_modules(["clash_toy"])


def test_installed_package_registers_through_its_entry_point(site):
    """A distribution's metadata on sys.path is what pip installs; its entry point is loaded with
    no config key."""
    (site / "toy_pkg.py").write_text(TOY.format(name="toy_ep"))
    info = site / "toy_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\ntoy_ep = toy_pkg\n")
    assert plugins.load_method_modules([]) == {"toy_pkg": ["toy_ep"]}
    assert plugins.method_module("toy_ep") == "toy_pkg"
    assert plugins.method_module("agem") is None


def test_a_training_job_imports_the_method_module_in_a_fresh_process(site):
    (site / "job_toy.py").write_text(TOY.format(name="job_toy"))
    check = ("from agem.methods import METHODS; from agem.methods.plugins import import_method_module; "
             "assert 'job_toy' not in METHODS; import_method_module('job_toy'); print(METHODS['job_toy'].__name__)")
    env_path = f"{site}:{':'.join(p for p in sys.path if p)}"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env={"PYTHONPATH": env_path})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Toy"


def test_the_methods_readme_example_trains(site, tmp_path):
    """The worked example of src/agem/methods/README.md registers and takes steps, on the written
    gradients and on autograd alike."""
    import re

    import torch

    from agem.methods import make_hyperparameters
    from agem.networks.models import MLP
    from helpers.methods import task_batches, tiny_stream

    readme = (REPO / "src" / "agem" / "methods" / "README.md").read_text()
    example = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if '@register("replay_avg")' in block)
    (site / "replay_avg_example.py").write_text(example)
    __import__("replay_avg_example")
    stream = tiny_stream(tmp_path / "s.h5", n_tasks=2, n_train=20, n_inputs=4)
    values = []
    for written in (True, False):
        torch.manual_seed(0)
        method = METHODS["replay_avg"](MLP(4, [6], stream.n_outputs), stream, make_hyperparameters("replay_avg", {}), 5,
                                       torch.Generator().manual_seed(0))
        if not written:
            method.gradients = None
        initial = method.flat.values.clone()
        for task in stream.tasks:
            method.begin_task(task)
            for batch in task_batches(task, 5):
                assert torch.isfinite(method.observe(batch))
            method.end_task(task)
        values.append(method.flat.values.clone())
        assert not torch.equal(values[-1], initial)
    assert torch.equal(values[0], values[1])
