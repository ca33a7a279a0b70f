"""Nothing lost, nothing silently wrong: every writer guarded, every check on, one line per error.

Each case was found by trying the command line as a hostile but realistic user would; each
ends with exit status 0, 2, 3 or 130 and one line on stderr, and no file is lost.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest

from bayescale.cli import main
from bayescale.data import outputs
from bayescale.data.runs import as_runs
from bayescale.errors import FitFileError, OutputError, RunsError, RunsWarning
from bayescale.fitting.result import Fit
from bayescale.inference.interrupts import interrupts_as_keyboard_interrupt
from tests.conftest import simulate_runs


def _run(argv, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            status = main(argv)
        except SystemExit as stop:  # argparse's usage errors
            status = stop.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def work(simulated_fit, tmp_path):
    """A folder with a saved fit and the runs it came from, as a user has them."""
    simulated_fit.save(tmp_path / "fit.nc")
    simulate_runs().to_csv(tmp_path / "runs.csv", index=False)
    return tmp_path


# Every command that writes a file, with the option that names it
WRITERS = [
    ["plot", "{fit}", "runs", "-o", "{out}"],
    ["metrics", "{runs}", "--metrics", "loss", "-o", "{out}"],
    ["validate", "sbc", "--sims", "2", "-o", "{out}"],
    ["validate", "sbc", "--sims", "2", "--plot", "{out}"],
    ["validate", "heldout", "--datasets", "epoch-chinchilla", "-o", "{out}"],
    ["validate", "transfer", "--sets", "epoch-chinchilla", "-o", "{out}"],
    ["compare", "{runs}", "--plot", "{out}"],
    ["fit", "{runs}", "-o", "{out}"],
]


def _argv(template, work, out):
    return [part.format(fit=work / "fit.nc", runs=work / "runs.csv", out=out)
            for part in template]


@pytest.mark.parametrize("template", WRITERS, ids=lambda t: " ".join(t[:2]))
def test_every_writer_refuses_an_existing_file_before_any_work(work, template, capsys):
    target = work / ("existing.png" if "plot" in template or "--plot" in template
                     else "existing.nc")
    shutil.copy(work / "fit.nc", target)
    before = target.read_bytes()
    start = time.perf_counter()
    status, _, err = _run(_argv(template, work, target), capsys)
    assert status == 2
    assert "already exists" in err and "--overwrite" in err
    assert target.read_bytes() == before
    assert time.perf_counter() - start < 20  # refused before any fit ran


@pytest.mark.parametrize("argv", [
    ["fit", "{runs}", "-o", "{runs}", "--overwrite"],
    ["plot", "{fit}", "runs", "-o", "{fit}", "--overwrite"],
    ["metrics", "{runs}", "--metrics", "loss", "-o", "{runs}", "--overwrite"],
], ids=["fit", "plot", "metrics"])
def test_an_output_onto_the_command_input_is_refused_even_with_overwrite(work, argv, capsys):
    argv = _argv(argv, work, None)
    target = Path(argv[argv.index("-o") + 1])
    before = target.read_bytes()
    status, _, err = _run(argv, capsys)
    assert status == 2 and "is the input" in err
    assert target.read_bytes() == before


def test_devices_folders_and_dangling_links_are_refused(work, capsys):
    status, _, err = _run(["fit", str(work / "runs.csv"), "-o", "/dev/null", "--overwrite"],
                          capsys)
    assert status == 2 and "not a regular file" in err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    (work / "folder").mkdir()
    status, _, err = _run(["plot", str(work / "fit.nc"), "runs", "-o", str(work / "folder"),
                           "--overwrite"], capsys)
    assert status == 2 and "is a directory" in err
    (work / "dangling.png").symlink_to(work / "nowhere.png")
    status, _, err = _run(["plot", str(work / "fit.nc"), "runs", "-o",
                           str(work / "dangling.png")], capsys)
    assert status == 2 and "symbolic link" in err and "does not exist" in err


def test_saved_files_get_the_umask_mode_also_when_replacing_a_private_file(work):
    fit = Fit.load(work / "fit.nc")
    old = os.umask(0o022)
    try:
        fit.save(work / "new.nc")
        assert stat.S_IMODE(os.stat(work / "new.nc").st_mode) == 0o644
        os.chmod(work / "new.nc", 0o600)
        fit.save(work / "new.nc", overwrite=True)
        assert stat.S_IMODE(os.stat(work / "new.nc").st_mode) == 0o644
        os.umask(0o077)
        fit.save(work / "private.nc")
        assert stat.S_IMODE(os.stat(work / "private.nc").st_mode) == 0o600
    finally:
        os.umask(old)


def test_temporary_files_of_killed_writers_are_removed_on_the_next_write(work):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = work / f".fit.nc.{dead.pid}.abc123.part"
    live = work / f".other.nc.{os.getppid()}.def456.part"  # a running process's: kept
    stale.write_bytes(b"half a file")
    live.write_bytes(b"being written")
    outputs.write_atomic(work / "table.csv", lambda path: Path(path).write_text("x\n"))
    assert not stale.exists()
    assert live.exists()


def test_a_signal_during_the_save_waits_for_a_complete_file(tmp_path):
    def write(path):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-write
        time.sleep(0.1)
        Path(path).write_text("complete\n")

    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt), interrupts_as_keyboard_interrupt():
        outputs.write_atomic(target, write)
    assert target.read_text() == "complete\n"
    assert target in outputs.written()
    assert not list(tmp_path.glob(".*.part"))


def test_a_second_signal_abandons_the_save_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")

    def write(path):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        Path(path).write_text("new\n")

    with pytest.raises(KeyboardInterrupt), interrupts_as_keyboard_interrupt():
        outputs.write_atomic(target, write, overwrite=True)
    assert target.read_text() == "old\n"
    assert not list(tmp_path.glob(".*.part"))


def test_an_interrupt_after_the_save_says_the_fit_was_saved(work, monkeypatch, capsys):
    from bayescale.cli import fitting

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "print_summary", interrupted)
    out = work / "saved.nc"
    status, _, err = _run(["fit", str(work / "runs.csv"), "-o", str(out), "--draws", "50",
                           "--tune", "50", "--chains", "1", "--no-progress"], capsys)
    assert status == 130
    assert "nothing was written" not in err and "saved.nc" in err and "in full" in err
    Fit.load(out)


def test_sigterm_while_the_fit_is_saved_ends_the_process(work):
    """The whole program in a process of its own, signalled as its save begins (no hang)."""
    out = work / "signalled.nc"
    process = subprocess.Popen(
        [sys.executable, "-m", "bayescale", "fit", str(work / "runs.csv"), "-o", str(out),
         "--draws", "100", "--tune", "100", "--chains", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        if list(work.glob(".signalled.nc.*.part")):
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.005)
    try:
        _, err = process.communicate(timeout=60)  # a hang in a file lock fails here
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the process hung after SIGTERM during the save")
    assert process.returncode in (0, 130), err
    assert not list(work.glob(".signalled.nc.*.part"))
    if process.returncode == 130:
        assert ("in full" in err) == out.exists(), err
    if out.exists():
        Fit.load(out)  # complete, its digest checks


def test_a_full_disk_during_the_save_leaves_the_old_file(tmp_path):
    target = tmp_path / "fit.nc"
    target.write_text("the old fit\n")

    def full(path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="nothing was replaced"):
        outputs.write_atomic(target, full, overwrite=True)
    assert target.read_text() == "the old fit\n"
    assert not list(tmp_path.glob(".*.part"))


def test_a_fit_without_its_checksum_is_refused(work, capsys):
    edited = work / "edited.nc"
    shutil.copy(work / "fit.nc", edited)
    with netCDF4.Dataset(edited, "a") as handle:
        handle.delncattr("sha256")
    with pytest.raises(FitFileError, match="no checksum"):
        Fit.load(edited)
    status, out, err = _run(["optimal", str(edited), "--flops", "1e24"], capsys)
    assert status == 2 and out == "" and "no checksum" in err


def test_a_fit_of_the_first_format_loads_without_a_checksum(work):
    old = work / "old.nc"
    shutil.copy(work / "fit.nc", old)
    with netCDF4.Dataset(old, "a") as handle:
        handle.delncattr("sha256")
        handle.setncattr("bayescale_format", "bayescale-fit/1")
    assert Fit.load(old).converged is not None


def test_damaged_and_partial_files_give_one_line(work, capsys):
    only = work / "only.nc"
    with netCDF4.Dataset(only, "w") as handle:
        handle.setncattr("bayescale_format", "bayescale-fit/1")
    data = bytearray((work / "fit.nc").read_bytes())
    rng = np.random.default_rng(0)
    for name in (only, *[work / f"flip{k}.nc" for k in range(6)]):
        if name.name.startswith("flip"):
            copy = bytearray(data)
            copy[int(rng.integers(0, 4096))] ^= 1 << int(rng.integers(8))
            name.write_bytes(bytes(copy))
        status, _, err = _run(["summary", str(name)], capsys)
        assert status in (0, 2), (name, err)  # a flip in padding can leave it readable
        if status == 2:
            assert err.count("\n") == 1 and err.startswith("bayescale: error:"), err


def test_an_unconverged_answer_says_so_in_the_answer_itself(work, capsys, monkeypatch):
    fit = Fit.load(work / "fit.nc")
    diagnostics = fit.diagnostics | {"converged": False, "problems": ["R-hat 1.05 for E"]}
    fit.tree.attrs["diagnostics"] = json.dumps(diagnostics)
    fit.save(work / "bad.nc")
    for argv in (["optimal", str(work / "bad.nc"), "--flops", "1e22"],
                 ["summary", str(work / "bad.nc")],
                 ["sensitivity", str(work / "bad.nc"), "--no-refit"]):
        status, out, _ = _run(argv, capsys)  # warnings silenced, as PYTHONWARNINGS=ignore
        assert status == 0 and "NOT CONVERGED" in out, argv
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the file
        status, _, _ = _run(["plot", str(work / "bad.nc"), "runs", "-o", str(work / "bad.svg")],
                            capsys)
    assert status == 0 and "NOT CONVERGED" in (work / "bad.svg").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = main(["optimal", str(work / "bad.nc"), "--flops", "1e22"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "ConvergenceWarning" in err


@pytest.mark.parametrize("argv,option", [
    (["rule", "{fit}", "--flops", "1e24", "--anchor-flops", "0"], "--anchor-flops"),
    (["rule", "{fit}", "--flops", "1e24", "--anchor-flops", "nan"], "--anchor-flops"),
    (["rule", "{fit}", "--flops", "1e24", "--anchor-flops", "-5"], "--anchor-flops"),
    (["rule", "{fit}", "--flops", "1e24", "--anchor-params", "nan"], "--anchor-params"),
    (["rule", "{fit}", "--flops", "1e24", "--anchor-params", "1"], "--anchor-params"),
    (["forecast", "{fit}", "--target-loss", "2", "--start-year", "nan"], "--start-year"),
    (["summary", "{fit}", "--prob", "2"], "--prob"),
    (["optimal", "{fit}", "--flops", "-1e5"], "--flops"),
    (["optimal", "{fit}", "--flops", "inf"], "--flops"),
    (["predict", "{fit}", "--params", "1e9", "--tokens", "-2e10"], "--tokens"),
    (["plot", "{fit}", "runs", "-o", "{out}", "--dpi", "100000"], "--dpi"),
])
def test_numbers_that_cannot_be_meant_are_refused_naming_the_option(work, argv, option,
                                                                     capsys):
    status, out, err = _run(_argv(argv, work, work / "x.png"), capsys)
    assert status == 2 and option in err and out == ""
    assert not (work / "x.png").exists()


@pytest.mark.parametrize("extra,message", [
    (["--prior", "alpha=LogNormal(mu=nan,sigma=0.2)"], "not a finite number"),
    (["--prior", "alpha=LogNormal(mu=1e999,sigma=0.2)"], "not a finite number"),
    (["--prior", "alpha=LogNormal(mu=-1,sigma=1e-300)"], "at least"),
    (["--prior", "sigma=HalfNormal(sigma=1e300)"], "at most"),
    (["--prior", "alpha=LogNormal(mu=-1,sigma=0.2)", "--prior",
      "alpha=LogNormal(mu=-1,sigma=0.3)"], "twice"),
    (["--prior", "alpha=LogNormal(mu=-1,mu=-2,sigma=0.3)"], "more than once"),
    (["--column", "N=loss", "--column", "D=loss"], "onto"),
    (["--column", "N=N", "--column", "N=D"], "more than once"),
    (["--source", "(new source)"], "(new source)"),
    (["--method", "huber-bootstrap", "--no-log-likelihood"], "--no-log-likelihood"),
    (["--method", "huber-bootstrap", "--progress"], "--progress"),
])
def test_options_that_would_crash_or_be_silently_dropped_are_refused(work, extra, message,
                                                                      capsys):
    status, _, err = _run(["fit", str(work / "runs.csv"), "-o", str(work / "x.nc"), *extra],
                          capsys)
    assert status == 2 and message in err and err.count("\n") == 1, err
    assert not (work / "x.nc").exists()


@pytest.mark.parametrize("text,message", [
    ('extends = "{self}"\n', "extends itself"),
    ('extends = "chinchilla"\n[priors.alpha]\ndist = "Distribution"\nmu = 1\n',
     "not a PyMC distribution"),
    ('extends = "chinchilla"\n[fixed]\nalpha = inf\n', "finite"),
    ('extends = "chinchilla"\n[priors.E]\ndist = "LogNormal"\nmu = nan\nsigma = 0.2\n',
     "finite"),
    (b'extends = "chinchilla"\n# \xff\xfe\n', "not UTF-8"),
], ids=["self", "base-class", "fixed-inf", "mu-nan", "latin-1"])
def test_bad_model_files_give_one_line_naming_them(work, text, message, capsys):
    model = work / "model.toml"
    if isinstance(text, bytes):
        model.write_bytes(text)
    else:
        model.write_text(text.format(self=model))
    status, _, err = _run(["fit", str(work / "runs.csv"), "-o", str(work / "x.nc"),
                           "--model", str(model)], capsys)
    assert status == 2 and message in err and err.count("\n") == 1, err


def test_runs_inputs_that_are_not_files_or_start_with_a_sep_line(work, capsys):
    (work / "sep.csv").write_text("sep=,\nN,D,loss\n1e8,2e9,3.0\n")
    (work / "folder").mkdir()
    os.mkfifo(work / "fifo.csv")
    for name, message in (("sep.csv", "sep=,"), ("folder", "is a directory"),
                          ("fifo.csv", "not a regular file")):
        status, _, err = _run(["fit", str(work / name), "-o", str(work / "x.nc")], capsys)
        assert status == 2 and message in err, (name, err)


def _ladder():
    N = np.repeat([1.25e8, 3.5e8, 7.6e8, 1.3e9, 2.7e9, 6.7e9, 1.3e10], 3)
    D = N * np.tile([10.0, 20.0, 40.0], 7)
    return N, D, 1.69 + 406.4 / N ** 0.34 + 410.7 / D ** 0.28


def test_parameters_in_thousands_are_refused():
    N, D, loss = _ladder()
    with pytest.raises(RunsError, match="tokens per parameter"):
        as_runs(pd.DataFrame({"N": N / 1000, "D": D, "loss": loss}))
    with pytest.warns(RunsWarning), pytest.raises(RunsError, match="10\\^3 times 6 N D"):
        as_runs(pd.DataFrame({"N": N / 1000 * 40, "D": D / 40, "loss": loss,
                              "C": 6 * N * D}))
    as_runs(pd.DataFrame({"N": N / 1000, "D": D, "loss": loss}), check_units=False)


def test_rows_with_n_and_d_swapped_are_named():
    N, D, loss = _ladder()
    swapped = [0, 4, 7, 10, 13, 16, 19]
    N, D = N.copy(), D.copy()
    N[swapped], D[swapped] = D[swapped].copy(), N[swapped].copy()
    with pytest.raises(RunsError, match="look swapped at rows 0, 4, 7, 10, 13, 16, 19"):
        as_runs(pd.DataFrame({"N": N, "D": D, "loss": loss}))


def test_booleans_and_dates_are_not_read_as_numbers():
    N, D, loss = _ladder()
    with pytest.raises(RunsError, match="true/false"):
        as_runs(pd.DataFrame({"N": N, "D": D, "loss": loss > 2}))
    with pytest.raises(RunsError, match="dates"):
        as_runs(pd.DataFrame({"N": pd.to_datetime(N.astype("int64")), "D": D, "loss": loss}))


def test_queries_below_the_fitted_runs_are_distances_too(work, capsys):
    status, out, _ = _run(["optimal", str(work / "fit.nc"), "--flops", "1e5", "--json"],
                          capsys)
    record = json.loads(out)[0]
    assert status == 0 and record["decades_beyond"] > 10


def test_the_fitted_range_is_on_6nd_whatever_c_says(simulated_fit):
    from bayescale.queries.beyond import decades_beyond

    runs = simulated_fit.tree["runs"].to_dataset()
    largest = float(np.log10((6 * runs["N"] * runs["D"]).max()))
    assert simulated_fit.discrepancy["log10_C_max"] == pytest.approx(largest)
    assert decades_beyond(simulated_fit, [10 ** (largest + 1)])[0] == pytest.approx(1.0)


def test_output_error_is_a_plain_bayescale_error():
    with pytest.raises(OutputError):
        outputs.check_output("/dev/null", overwrite=True)


def test_quiet_and_verbose_work_after_the_command_and_quiet_hushes_wrote(work, capsys):
    for argv in (["plot", str(work / "fit.nc"), "runs", "-o", str(work / "a.png"), "-q"],
                 ["-q", "plot", str(work / "fit.nc"), "runs", "-o", str(work / "b.png")]):
        status, _, err = _run(argv, capsys)
        assert status == 0 and "wrote" not in err
    status, _, err = _run(["plot", str(work / "fit.nc"), "runs", "-o", str(work / "c.png")],
                          capsys)
    assert status == 0 and "wrote" in err


def test_a_fit_with_no_more_runs_than_parameters_warns():
    from bayescale.inference.model import identification_problems
    from bayescale.spec import load_spec

    runs = as_runs(pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8], "D": [1e9, 4e9, 2e9, 8e9],
                                 "loss": [3.1, 2.9, 2.95, 2.7]}))
    problems = identification_problems(runs, load_spec("chinchilla"))
    assert any("4 runs for the 5 free parameters" in text for text in problems)
    assert not any("free parameters" in text for text in identification_problems(
        as_runs(simulate_runs()), load_spec("chinchilla")))


def test_plans_compared_off_the_budget_are_pointed_out(work, capsys):
    fit = str(work / "fit.nc")
    status, out, _ = _run(["plan", fit, "--flops", "1e22", "--compare", "1e9:1e11",
                           "5e8:2e11"], capsys)
    assert status == 0 and "NOTE: the budget is 1e+22 FLOPs" in out and "6% of it" in out
    status, out, _ = _run(["plan", fit, "--flops", "6e20", "--compare", "1e9:1e11",
                           "5e8:2e11"], capsys)
    assert status == 0 and "NOTE" not in out
