"""A fit on disk is never lost or silently changed: checked paths, atomic saves, checksums."""

import os
import signal
import threading

import netCDF4
import pytest

import bayescale as bs
from bayescale.cli import main
from tests.conftest import simulate_runs


def test_save_refuses_to_replace_without_overwrite(simulated_fit, tmp_path):
    path = simulated_fit.save(tmp_path / "fit.nc")
    before = path.read_bytes()
    with pytest.raises(bs.errors.FitFileError, match=r"already exists: pass --overwrite \(Python: "
                                              r"overwrite=True\)"):
        simulated_fit.save(path)
    assert path.read_bytes() == before
    simulated_fit.save(path, overwrite=True)
    assert bs.load_fit(path).posterior.equals(simulated_fit.posterior)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]  # no temporary file left


def test_unwritable_targets_are_named(simulated_fit, tmp_path):
    with pytest.raises(bs.errors.FitFileError, match=r"is a directory: give a file name"):
        simulated_fit.save(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(bs.errors.FitFileError, match=r"'.*file' is a file, not a folder"):
        simulated_fit.save(tmp_path / "file" / "fit.nc")


def test_damaged_or_edited_files_are_refused(simulated_fit, tmp_path):
    path = simulated_fit.save(tmp_path / "fit.nc")
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF  # inside the draws
    (tmp_path / "damaged.nc").write_bytes(bytes(damaged))
    with pytest.raises(bs.errors.FitFileError, match=r"damaged or was edited after it was saved"):
        bs.load_fit(tmp_path / "damaged.nc")
    edited = tmp_path / "edited.nc"
    edited.write_bytes(good)
    with netCDF4.Dataset(edited, "a") as handle:
        handle.setncattr("sampler", handle.getncattr("sampler").replace('"draws": 500',
                                                                         '"draws": 50'))
    with pytest.raises(bs.errors.FitFileError, match=r"damaged or was edited"):
        bs.load_fit(edited)


def test_cli_checks_the_output_before_sampling(simulated_fit, tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    simulate_runs().to_csv(csv, index=False)
    path = simulated_fit.save(tmp_path / "fit.nc")
    before = path.read_bytes()
    assert main(["fit", str(csv), "-o", str(path)]) == 2  # fails at once: no sampling
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["fit", str(csv), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_strict_exits_3_and_queries_say_the_fit_did_not_converge(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    simulate_runs().to_csv(csv, index=False)
    out = tmp_path / "short.nc"
    with pytest.warns(bs.errors.ConvergenceWarning):
        status = main(["fit", str(csv), "-o", str(out), "--draws", "20", "--tune", "20",
                       "--no-progress", "--strict"])
    assert status == 3 and "--strict: the fit did not converge" in capsys.readouterr().err
    with pytest.warns(bs.errors.ConvergenceWarning, match=r"did not pass its convergence checks"):
        assert main(["optimal", str(out), "--flops", "1e22", "--json"]) == 0
    record = __import__("json").loads(capsys.readouterr().out)[0]
    assert record["converged"] is False and record["problems"]
    with pytest.warns(bs.errors.ConvergenceWarning):
        bs.compute_optimal(bs.load_fit(out), [1e22])


def test_ctrl_c_while_sampling_stops_the_fit(simulated_fit):
    """nutpie returns the draws it has on Ctrl-C; bayescale raises instead of keeping them."""
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()  # the structure is compiled already (simulated_fit): this lands in sampling
    try:
        with pytest.raises(KeyboardInterrupt):
            bs.fit(simulate_runs(), draws=2_000_000, tune=500, seed=11, progressbar=False)
    finally:
        timer.cancel()
