"""Fuzzing the command line: random arguments and malformed tables never give a traceback.

Every run of ``bayescale.cli.main`` must end with exit status 0, 2 or 3 (argparse's own usage
errors exit 2 too), and never change an existing fit file.
"""

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayescale.cli import main

NUMBERS = st.sampled_from(["1e22", "7e10", "1.4e12", "0", "-1", "nan", "inf", "1e400", "70",
                           "abc", "", "1e9:2e10", "3", "0.5", "1.5", "2e-3", "-1e5", "-inf",
                           "-nan", "1e-300"])
FLAGS = st.sampled_from(["--flops", "--params", "--tokens", "--prob", "--seed", "--source",
                         "--new-source", "--noise", "--json", "--unique", "--unique-tokens",
                         "--next-run", "--risk", "--hdi", "--bogus", "-o", "--anchor-flops",
                         "--anchor-params", "--start-year", "--start-flops", "--growth",
                         "--growth-sd", "--target-loss", "--exponent", "--max-tokens"])
# Commands that write a file, with the option that names it; -o goes to an existing fit
WRITERS = st.sampled_from([["plot", "{fit}", "runs"], ["plot", "{fit}", "frontier"],
                           ["metrics", "{runs}", "--metrics", "loss"],
                           ["validate", "sbc", "--sims", "2"],
                           ["validate", "heldout", "--datasets", "epoch-chinchilla"],
                           ["validate", "transfer", "--sets", "epoch-chinchilla"],
                           ["fit", "{runs}"]])
COMMANDS = st.sampled_from(["optimal", "predict", "plan", "summary", "optimality", "rule",
                            "forecast"])
HEADERS = st.lists(st.sampled_from(["N", "D", "loss", "C", "U", "source", "loss", "x", ""]),
                   min_size=0, max_size=5)
CELLS = st.sampled_from(["1e8", "2e9", "3.1", "-2", "nan", "", "abc", "1e400", "0", "70",
                         "1400", "250", "0.01", '"', "1e8;2"])

FIXTURES = [HealthCheck.function_scoped_fixture]


def _run(argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return main(argv)
        except SystemExit as stop:  # argparse: usage errors
            return stop.code


@pytest.fixture(scope="module")
def saved_fit(simulated_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "fit.nc"
    simulated_fit.save(path)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(command=COMMANDS, words=st.lists(st.one_of(FLAGS, NUMBERS), max_size=6))
def test_random_query_arguments_exit_cleanly(saved_fit, command, words, capsys):
    before = saved_fit.read_bytes()
    status = _run([command, str(saved_fit), *words])
    capsys.readouterr()
    assert status in (0, 2, 3), (command, words, status)
    assert saved_fit.read_bytes() == before


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURES)
@given(writer=WRITERS, option=st.sampled_from(["-o", "--plot"]), overwrite=st.booleans(),
       onto=st.sampled_from(["fit", "runs", "folder", "device"]))
def test_no_writer_destroys_a_file_it_was_not_asked_to_replace(saved_fit, tmp_path_factory,
                                                               writer, option, overwrite, onto,
                                                               capsys):
    folder = tmp_path_factory.mktemp("writer")
    runs = folder / "runs.csv"
    runs.write_text("N,D,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n4e8,8e9,2.7\n")
    target = {"fit": saved_fit, "runs": runs, "folder": folder, "device": "/dev/null"}[onto]
    argv = [part.format(fit=saved_fit, runs=runs) for part in writer]
    if option == "--plot" and writer[0] != "validate":
        option = "-o"
    if onto in ("fit", "runs") and "{" + onto + "}" not in writer:
        overwrite = False  # else it would be asked to replace that file, and rightly would
    before = {path: path.read_bytes() for path in (saved_fit, runs)}
    status = _run([*argv, option, str(target), *(["--overwrite"] if overwrite else [])])
    capsys.readouterr()
    assert status == 2, (argv, option, onto, overwrite, status)  # refused before any work
    assert {path: path.read_bytes() for path in before} == before
    assert folder.is_dir()


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(header=HEADERS, rows=st.lists(st.lists(CELLS, max_size=6), max_size=4),
       junk=st.binary(max_size=20), use_junk=st.booleans(),
       suffix=st.sampled_from([".csv", ".parquet", ".txt"]))
def test_malformed_tables_exit_cleanly(saved_fit, tmp_path_factory, header, rows, junk, use_junk,
                                       suffix, capsys):
    folder = tmp_path_factory.mktemp("table")
    table = folder / f"runs{suffix}"
    if use_junk:
        table.write_bytes(junk)
    else:
        table.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    before = saved_fit.read_bytes()
    for argv in (["fit", str(table), "-o", str(saved_fit)],  # exists: refused before reading
                 ["fit", str(table), "-o", str(folder / "new.nc"), "--draws", "5", "--tune",
                  "5", "--chains", "1", "--no-progress"]):
        status = _run(argv)
        capsys.readouterr()
        assert status in (0, 2, 3), (argv, status)
    assert saved_fit.read_bytes() == before
