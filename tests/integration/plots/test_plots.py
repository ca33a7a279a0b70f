"""Every plot renders to PNG without warnings (but how far it reaches) and holds its artists."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from bayescale import plots
from bayescale.cli import main
from bayescale.data import datasets
from bayescale.errors import BayescaleError
from bayescale.queries.draws import law_parameters

# These tests read what the figures hold; their far-beyond warnings are checked in
# tests/integration/queries/test_beyond.py.
pytestmark = pytest.mark.filterwarnings("ignore::bayescale.errors.ExtrapolationWarning")


def render(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    plt.close(fig)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    return data


def count(ax, kind) -> int:
    return sum(isinstance(child, kind) for child in ax.get_children())


@pytest.mark.needs_data
def test_runs_plot_has_points_law_and_bands_on_log_axes(epoch_fit):
    fig, axes = plots.plot_runs(epoch_fit)
    n_runs = len(epoch_fit.runs.table)
    for ax, unit in zip(axes, ("parameters N", "training tokens D"), strict=True):
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert ax.get_xlabel() == unit and ax.get_ylabel() == "loss (nats/token)"
        scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(scatter) == 1 and len(scatter[0].get_offsets()) == n_runs
        assert len(ax.get_lines()) == 3 and count(ax, PolyCollection) == 6
    render(fig)


@pytest.mark.needs_data
def test_isoflop_plot_draws_one_curve_and_optimum_per_budget(epoch_fit):
    fig, ax = plots.plot_isoflop(epoch_fit, [1e19, 1e21, 1e23])
    assert count(ax, PolyCollection) == 6  # two bands per budget
    assert len(ax.get_legend().get_texts()) == 3
    assert len(ax.containers) == 3  # one N_opt interval (errorbar) per budget
    render(fig)


@pytest.mark.needs_data
def test_frontier_plot_overlays_famous_models(epoch_fit):
    fig, axes = plots.plot_frontier(epoch_fit, [1e20, 1e26])
    famous = len(datasets.famous_models())
    for ax in axes:
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert [len(p.get_offsets()) for p in points] == [famous]
        assert ax.get_xlabel() == "training compute C (FLOPs)"
    render(fig)


def tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for axis in (ax.xaxis, ax.yaxis) for minor in (False, True)
            for t in axis.get_ticklabels(minor=minor) if t.get_text()]


@pytest.mark.needs_data
def test_loss_axes_read_as_plain_numbers(epoch_fit):
    drawn = [plots.plot_runs(epoch_fit)[1][0], plots.plot_isoflop(epoch_fit, [1e21])[1],
             plots.plot_extrapolation(epoch_fit)[1],
             plots.plot_forecast(epoch_fit, start_year=2024, start_flops=5e24, growth=4.0)[1]]
    for ax in drawn:
        loss_ticks = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True) if t.get_text()]
        assert loss_ticks and all(text.replace(".", "").isdigit() for text in loss_ticks), \
            loss_ticks
        assert not any("10^{0}" in text for text in tick_labels(ax))
        plt.close(ax.figure)


@pytest.mark.needs_data
def test_frontier_labels_do_not_overlap_and_stay_inside(epoch_fit):
    fig, axes = plots.plot_frontier(epoch_fit)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        assert any(band.get_label() == "fitted runs' compute" for band in ax.patches)
        frame = ax.get_window_extent(renderer)
        boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_visible()]
        assert len(boxes) >= 8  # most famous models keep a label
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 for b in boxes)
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)
    fig, axes = plots.plot_frontier(epoch_fit, famous=["chinchilla", "llama-3.1-405b"])
    assert sorted(t.get_text() for t in axes[0].texts) == ["chinchilla", "llama-3.1-405b"]
    plt.close(fig)
    with pytest.raises(BayescaleError, match="unknown famous models"):
        plots.plot_frontier(epoch_fit, famous=["gpt-7"])


@pytest.mark.needs_data
def test_isoflop_legend_marks_budgets_beyond_the_runs(epoch_fit):
    fig, ax = plots.plot_isoflop(epoch_fit, [1e19, 1e23])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["C = 1e+19", "C = 1e+23 (beyond the runs)"]
    plt.close(fig)


@pytest.mark.needs_data
def test_extrapolation_fan_marks_the_fitted_range(epoch_fit):
    fig, ax = plots.plot_extrapolation(epoch_fit)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["50% interval", "90% interval"]  # one band convention everywhere
    assert "fitted range" in labels and "runs" in labels
    render(fig)


@pytest.mark.parametrize("kind", ["posterior", "prior"])
def test_predictive_checks_draw_predictions_and_observations(simulated_fit, kind):
    fig, axes = plots.plot_predictive_check(simulated_fit, kind, draws=100, num_samples=20)
    assert len(axes) == 1 and len(axes[0].get_lines()) == 21  # 20 predictive + observed
    # a robust range: every observed run shows, extreme predictive draws do not stretch it
    observed = np.log(simulated_fit.runs.table["loss"].to_numpy())
    low, high = axes[0].get_xlim()
    assert low < observed.min() and observed.max() < high
    tree = plots.predictive(simulated_fit, kind, draws=100)
    drawn = tree[f"{kind}_predictive"]["log_loss"].values
    assert high - low <= 1.2 * (max(observed.max(), np.quantile(drawn, 0.99))
                                - min(observed.min(), np.quantile(drawn, 0.01)))
    render(fig)


def test_residual_check_puts_each_run_against_its_predictive_interval(simulated_fit):
    fig, axes = plots.plot_residuals(simulated_fit, seed=2)
    assert [ax.get_xlabel() for ax in axes] == ["parameters N", "training tokens D",
                                                "tokens per parameter D/N"]
    runs = simulated_fit.runs.table
    tree = simulated_fit.to_arviz(log_prior=False, seed=2)
    drawn = tree["posterior_predictive"]["log_loss"]
    expected = tree["observed_data"]["log_loss"].values - drawn.median(("chain", "draw")).values
    for ax, x in zip(axes, (runs["N"], runs["D"], runs["D"] / runs["N"]), strict=True):
        points = next(c for c in ax.collections if isinstance(c, PathCollection))
        np.testing.assert_allclose(points.get_offsets(), np.column_stack([x, expected]))
        assert ax.get_xscale() == "log"
    # runs simulated from the fitted law: about 90% inside their 90% intervals, said in the title
    share = int(fig._suptitle.get_text().split("%")[0].split()[-1])
    assert 75 <= share <= 100
    plt.close(fig)


def test_pair_plot_is_a_grid_of_the_law_parameters(simulated_fit):
    fig, axes = plots.plot_pair(simulated_fit)
    assert axes.shape == (5, 5)
    # as sampled: A and B at the runs' reference scales, not the raw ln A that tracks alpha
    assert {axes[i, 0].get_ylabel() for i in range(5)} == {
        "ln E", "ln A at N0", "ln B at D0", "alpha", "beta"}
    render(fig)


@pytest.mark.needs_data
def test_decision_plot_shows_each_plan_and_accepts_axes(epoch_fit):
    fig, ax = plt.subplots()
    plans = {"A": (70e9, 1.4e12), "B": (35e9, 2.8e12), "GPT-3": (175e9, 300e9)}
    returned_fig, returned_ax = plots.plot_decision(epoch_fit, plans, axes=ax)
    assert returned_fig is fig and returned_ax is ax
    assert len(ax.patches) == 3 and len(ax.get_lines()) == 6  # median and quantile per plan
    render(fig)
    with pytest.raises(BayescaleError, match="give plans"):
        plots.plot_decision(epoch_fit)


@pytest.mark.needs_data
def test_decision_plot_at_a_budget_weighs_the_optimum_against_the_rules(epoch_fit):
    fig, ax = plots.plot_decision(epoch_fit, {"mine": (3e10, 5.6e12)}, flops=1e24)
    labels = [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()]
    assert labels == ["expected-loss optimum", "20 tokens per parameter",
                      "Kaplan's N ~ C^0.73", "mine"]
    assert "at C = 1e+24 FLOPs" in ax.get_title()
    plans = plots.rule_plans(law_parameters(epoch_fit), 1e24)
    for N, D in plans.values():
        assert 6 * N * D == pytest.approx(1e24)
    assert plans["20 tokens per parameter"][1] == pytest.approx(20 * plans[
        "20 tokens per parameter"][0])
    # Kaplan's rule puts more of a large budget into parameters than the optimum does
    assert plans["Kaplan's N ~ C^0.73"][0] > 1.5 * plans["expected-loss optimum"][0]
    # the legend sits below the panel, over no distribution
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.y1 <= ax.get_window_extent(renderer).y0
    plt.close(fig)


@pytest.mark.needs_data
def test_forecast_fan_marks_the_target(epoch_fit):
    fig, ax = plots.plot_forecast(epoch_fit, start_year=2024, start_flops=5e24, growth=4.0,
                                  growth_sd=0.3, target_loss=1.9)
    assert any(np.allclose(line.get_ydata(), 1.9) for line in ax.get_lines())
    assert ax.get_xlabel() == "year" and ax.get_yscale() == "log"
    render(fig)


@pytest.mark.needs_data
def test_wrong_number_of_axes_is_refused(epoch_fit):
    fig, ax = plt.subplots()
    with pytest.raises(BayescaleError, match="draws 2 panel"):
        plots.plot_runs(epoch_fit, axes=ax)
    plt.close(fig)


@pytest.mark.needs_data
def test_plot_command_writes_an_image(epoch_fit, tmp_path, capsys):
    path = epoch_fit.save(tmp_path / "fit.nc")
    out = tmp_path / "frontier.png"
    assert main(["plot", str(path), "frontier", "-o", str(out), "--dpi", "40"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(path), "decision", "-o", str(out)]) == 2
    assert "needs --flops" in capsys.readouterr().err
