"""The package's shape: a small public API, layers, lazy imports, and the CLI's entry points."""

import gc
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.cli.fitting import METHODS as CLI_METHODS
from bayescale.cli.fitting import RESAMPLES as CLI_RESAMPLES
from bayescale.cli.queries import KAPLAN_EXPONENT as CLI_KAPLAN_EXPONENT
from bayescale.spec import available_specs, load_spec
from bayescale.spec.model_spec import _validate

cli_main = importlib.import_module("bayescale.cli.main")  # the module, not its main()


def test_the_public_api_is_small_and_every_name_resolves():
    assert len(bs.__all__) <= 16
    for name in bs.__all__:
        assert getattr(bs, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bs.nope  # noqa: B018
    # the errors live in bayescale.errors, not at the top
    assert "BayescaleError" not in bs.__all__ and bs.errors.BayescaleError


def test_constants_written_out_in_the_cli_agree_with_the_library():
    import inspect

    from bayescale.checks import compare, sensitivity, sweep, transfer, validate
    from bayescale.cli import checks as cli_checks
    from bayescale.cli.common import WORKERS as CLI_WORKERS
    from bayescale.estimators.huber import RESAMPLES
    from bayescale.fitting.result import METHODS
    from bayescale.queries.famous import KAPLAN_EXPONENT

    assert CLI_METHODS == METHODS
    assert CLI_RESAMPLES == RESAMPLES
    assert CLI_KAPLAN_EXPONENT == KAPLAN_EXPONENT

    def default(function, name):
        return inspect.signature(function).parameters[name].default

    assert CLI_WORKERS == sweep.DEFAULT_WORKERS
    assert cli_checks.HOLDOUT == default(compare.extrapolation_check, "holdout")
    assert cli_checks.SENSITIVITY_FLOPS == default(sensitivity.prior_sensitivity, "flops")
    assert cli_checks.FACTORS == sensitivity.DEFAULT_FACTORS
    assert cli_checks.HELDOUT_RESAMPLES == default(validate.heldout_calibration, "resamples")
    assert cli_checks.TRANSFER_RESAMPLES == default(transfer.transfer_table, "resamples")


@pytest.mark.parametrize("name", available_specs())
def test_every_shipped_model_names_pymc_distributions_with_their_arguments(name):
    _validate(load_spec(name), check_distributions=True)  # shipped specs skip it when loaded


def _imported_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``code``."""
    script = f"import sys\n{code}\nprint(__import__('json').dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


HEAVY = {"pymc", "pytensor", "nutpie", "jax", "arviz", "matplotlib"}


def test_importing_the_package_and_the_cli_loads_no_sampler_or_plotting_library():
    assert not HEAVY & _imported_after("import bayescale, bayescale.cli")


def test_a_query_of_a_saved_fit_loads_no_sampler_or_plotting_library(simulated_fit, tmp_path):
    path = simulated_fit.save(tmp_path / "fit.nc")
    loaded = _imported_after(
        "from bayescale.cli import main\n"
        f"main(['optimal', {str(path)!r}, '--flops', '1e22', '--json'])\n"
        f"main(['predict', {str(path)!r}, '--params', '1e9', '--tokens', '2e10', '--json'])")
    assert not HEAVY & loaded, HEAVY & loaded


def test_the_program_answers_a_query_without_importing_dask(simulated_fit, tmp_path, capsys):
    # Dask is installed here, and xarray would import it; the program hides it for queries.
    path = str(simulated_fit.save(tmp_path / "fit.nc"))
    query = ["optimal", path, "--flops", "1e22", "1e24", "--json"]
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "bayescale", *query],
                         capture_output=True, text=True, check=True)
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert "xarray" in imported and "dask" not in imported
    assert main(query) == 0
    assert json.loads(out.stdout) == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command, one_shot", [(["models"], True),
                                               (["compare", "runs.csv"], False)])
def test_the_program_runs_a_one_shot_command_without_the_cycle_collector(command, one_shot,
                                                                         monkeypatch):
    # the program owns its process: a command that does one thing runs without the cycle
    # collector, and every command freezes what is left, which the exit then does not scan
    seen = {}

    def run(args):
        seen.update(enabled=gc.isenabled(), command=args.command)
        return 0

    monkeypatch.setattr(cli_main, "_run", run)
    monkeypatch.setattr(sys, "argv", ["bayescale", *command])
    monkeypatch.setitem(sys.modules, "dask", sys.modules.get("dask"))  # as it was, afterwards
    frozen = gc.get_freeze_count()
    try:
        assert cli_main.program() == 0
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen == {"enabled": not one_shot, "command": command[0]}
    assert (command[0] in cli_main.ONE_SHOT) == one_shot


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayescale {bs.__version__}"
    out = subprocess.run([sys.executable, "-m", "bayescale", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "examples:" in out and "bayescale fit runs.csv" in out


def test_every_option_has_help_and_shows_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "--draws DRAWS         draws per chain (default: 1000, and again with 2000" in text
    assert "random seed (default: 0)" in text


def test_nested_list_items_in_the_docs_are_indented_four_spaces():
    """Python-Markdown (the docs site) flattens list items indented by two spaces."""
    root = Path(__file__).resolve().parents[2]
    flattened = [f"{path.relative_to(root)}:{number}" for path in (root / "docs").rglob("*.md")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.match(r"^ {2}([-*]|\d+\.) ", line)]
    assert not flattened, flattened


def test_every_command_has_examples_that_parse():
    """The help promises examples for every command; each must be a command line that parses."""
    import shlex

    from bayescale.cli.main import EXAMPLES, _parser

    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    missing = [name for name in commands if name not in EXAMPLES]
    assert not missing, missing
    for name, subparser in commands.items():
        assert subparser.epilog and subparser.epilog.startswith("examples:"), name
    for text in EXAMPLES.values():
        for line in text.splitlines()[1:]:
            words = shlex.split(line, comments=True)
            assert words[0] == "bayescale", line
            parser.parse_args(words[1:])  # exits (fails the test) on a bad example


def test_the_type_stub_names_the_public_api_for_ides():
    """bayescale/__init__.pyi (and py.typed) let editors see the lazily imported names."""
    import ast

    package = Path(bs.__file__).parent
    assert (package / "py.typed").is_file()
    stub = ast.parse((package / "__init__.pyi").read_text())
    named = {alias.asname or alias.name for node in stub.body
             if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert named == set(bs.__all__)
    for name in bs.__all__:
        assert getattr(bs, name) is not None
