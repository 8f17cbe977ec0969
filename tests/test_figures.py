"""The sweep's and the run's figures, drawn from synthetic inputs, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.figures import digits, sweep_accuracy, sweep_losses
from pipeline.figures.sweep_losses import SMOOTH_WINDOW

LRS = ("0.5", "0.05", "0.1")  # not in numeric order, as a sweep may list them
GRID = [
    {"train.batch_size": b, "model.hidden_size": h, "train.lr": lr}
    for b in ("200", "100", "50")
    for h in ("100", "50", "25")
    for lr in LRS
]
OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]  # sweep=optimizers: its one axis
LABEL = "final validation accuracy"


def texts_of(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_axis_values_are_in_numeric_order_or_else_in_the_sweeps():
    assert sweep_losses.ordered(["0.5", "0.05", "0.1", "0.05"]) == ["0.05", "0.1", "0.5"]
    assert sweep_losses.ordered(["200", "100", "50"]) == ["50", "100", "200"]
    assert sweep_losses.ordered(["1e-3", "0.01"]) == ["1e-3", "0.01"]
    assert sweep_losses.ordered([*OPTIMIZERS, "sgd"]) == OPTIMIZERS
    assert sweep_losses.ordered(["10", "relu", "2"]) == ["10", "relu", "2"]


def test_smoothing_is_the_trailing_mean_and_stops_at_the_first_non_finite_loss():
    losses = np.random.default_rng(0).random(50)
    expected = [np.mean(losses[max(0, i - 9) : i + 1]) for i in range(50)]
    np.testing.assert_allclose(sweep_losses.smooth(losses, 10), expected, rtol=1e-12)
    broken = np.concatenate([losses[:7], [np.inf], losses[8:]])
    np.testing.assert_allclose(sweep_losses.smooth(broken, 10), expected[:7], rtol=1e-12)
    assert sweep_losses.smooth(np.array([]), 10).shape == (0,)


def sweep_curves(params: list[dict], iters: int = 2000) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    steps = np.arange(iters)
    return [2.3 * np.exp(-steps * float(p.get("train.lr", 0.1)) / 300) + rng.random(iters) * 0.1
            for p in params]  # fmt: skip


def test_the_loss_figure_has_a_panel_per_combination_and_lines_in_numeric_order():
    curves = sweep_curves(GRID)
    diverged, killed = 0, 4  # a diverged run's curve ends early; a killed run has none
    curves[diverged] = np.concatenate([curves[diverged][:300], [np.nan]])
    curves[killed] = np.array([])
    fig = sweep_losses.loss_panels(
        GRID, curves, "train.lr", ["train.batch_size", "model.hidden_size"]
    )
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 9
    assert panels[0].get_title() == "batch_size=50, hidden_size=25"
    assert panels[-1].get_title() == "batch_size=200, hidden_size=100"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0.05", "0.1", "0.5"]
    assert fig.legends[0].get_title().get_text() == "lr"
    for ax in panels:
        assert ax.get_yscale() == "log"
        assert ax.get_shared_y_axes().joined(ax, panels[0])
        labels = ax.get_legend_handles_labels()[1]
        assert labels == [lr for lr in ("0.05", "0.1", "0.5") if lr in labels]
    diverged_panel = panels[-1]  # batch 200, hidden 100: the runs 0..2
    stopped = [line for line in diverged_panel.lines if line.get_marker() == "x"]
    assert len(stopped) == 1 and stopped[0].get_xdata()[0] == 299  # 300 finite points
    killed_panel = panels[-2]  # batch 200, hidden 50: run 4 is its lr=0.05
    assert killed_panel.get_legend_handles_labels()[1] == ["0.1", "0.5"]
    assert texts_of(killed_panel) == ["no curve: lr=0.05"]
    assert f"moving average over the last {SMOOTH_WINDOW} iterations" in fig.get_suptitle()


def test_a_one_axis_sweep_of_names_is_one_panel_with_its_lines_in_the_sweeps_order():
    params = [{"train.optimizer": name} for name in OPTIMIZERS]
    curves = sweep_curves(params, iters=120)
    curves[2] = np.array([])  # adagrad: killed before its first loss
    fig = sweep_losses.loss_panels(params, curves, "train.optimizer", [])
    (panel,) = [ax for ax in fig.axes if ax.get_visible()]
    assert panel.get_legend_handles_labels()[1] == ["sgd", "momentum", "adam"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == OPTIMIZERS
    assert "over the last 12 iterations" in fig.get_suptitle()  # a tenth of a short curve
    scores = [0.9, float("nan"), None, 0.95]
    notes = ["", "diverged", "killed", ""]
    against = sweep_accuracy.accuracy_against(params, scores, notes, "train.optimizer", LABEL)
    ax = against.axes[0]
    assert ax.get_title() == f"Sweep: {LABEL}" and ax.get_ylabel() == LABEL
    assert [t.get_text() for t in ax.get_xticklabels()] == OPTIMIZERS
    assert texts_of(ax) == ["0.900", "diverged", "killed", "0.950"]


def test_replicates_are_lines_of_one_colour_with_one_legend_entry():
    params = [{"train.lr": lr, "seed": seed} for lr in ("0.1", "0.5") for seed in "012"]
    curves = sweep_curves(params, iters=100)
    curves[4] = np.array([])  # lr 0.5, seed 1: killed
    fig = sweep_losses.loss_panels(params, curves, "train.lr", [])
    (panel,) = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panel.lines) == 5
    assert panel.get_legend_handles_labels()[1] == ["0.1", "0.5"]
    colours = [line.get_color() for line in panel.lines]
    assert len(set(colours[:3])) == 1 and len(set(colours[3:])) == 1 and colours[0] != colours[3]
    assert texts_of(panel) == []  # lr 0.5 has curves: nothing is missing


def test_a_sweep_of_only_diverged_runs_still_draws():
    params = [{"train.lr": lr} for lr in LRS]
    fig = sweep_losses.loss_panels(params, [np.array([])] * 3, "train.lr", [])
    assert texts_of(fig.axes[0]) == ["no curve: lr=0.05, 0.1, 0.5"]
    against = sweep_accuracy.accuracy_against(
        params, [None] * 3, ["diverged"] * 3, "train.lr", LABEL
    )
    assert texts_of(against.axes[0]) == ["diverged"] * 3


def cell_texts(ax) -> dict[tuple[int, int], str]:
    """(row, column) of the cell -> its annotation."""
    return {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }


def test_the_heatmap_has_a_panel_per_third_value_and_annotates_every_cell():
    params = [p for p in GRID if (p["train.batch_size"], p["train.lr"]) != ("50", "0.5")]  # a gap
    rng = np.random.default_rng(2)
    scores = list(rng.uniform(0.9, 0.98, len(params)))
    diverged = params.index(
        {"train.batch_size": "200", "model.hidden_size": "25", "train.lr": "0.1"}
    )
    scores[diverged] = None
    notes = ["diverged" if i == diverged else "" for i in range(len(params))]
    fig = sweep_accuracy.accuracy_heatmaps(
        params, scores, notes, "train.lr", "train.batch_size", ["model.hidden_size"], LABEL
    )
    assert fig.get_suptitle() == f"Sweep: {LABEL}"
    noted = sweep_accuracy.accuracy_heatmaps(
        params, scores, notes, "train.lr", "train.batch_size", [], LABEL, "mean over 3 seeds"
    )
    assert noted.get_suptitle() == f"Sweep: {LABEL}\n(mean over 3 seeds)"
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [f"hidden_size={h}" for h in ("25", "50", "100")]
    assert len(fig.axes) == 4  # and one colorbar
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "0.1", "0.5"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["50", "100", "200"]
    hidden_25 = cell_texts(panels[0])
    assert hidden_25[2, 1] == "diverged"  # batch 200 (row 2), lr 0.1 (column 1)
    assert hidden_25[0, 2] == "no run"  # batch 50, lr 0.5: never run
    run = params.index({"train.batch_size": "100", "model.hidden_size": "50", "train.lr": "0.05"})
    assert cell_texts(panels[1])[1, 0] == f"{scores[run]:.3f}"
    image = panels[1].images[0].get_array()
    assert image[1, 0] == pytest.approx(scores[run])
    assert np.ma.getmaskarray(image)[0, 2] or np.isnan(image[0, 2])


def test_a_two_axis_heatmap_is_one_panel():
    params = [
        {"train.lr": lr, "model.hidden_size": h} for lr in ("0.5", "1.0") for h in ("16", "32")
    ]
    fig = sweep_accuracy.accuracy_heatmaps(
        params, [0.8, 0.85, float("nan"), 0.9], ["", "", "failed", ""], "train.lr",
        "model.hidden_size", [], LABEL,
    )  # fmt: skip
    assert len(fig.axes) == 2  # one panel, one colorbar
    assert cell_texts(fig.axes[0]) == {(0, 0): "0.800", (1, 0): "0.850", (0, 1): "failed",
                                       (1, 1): "0.900"}  # fmt: skip


def test_the_mosaic_places_image_k_at_its_tile():
    images = np.arange(3, dtype=float).reshape(3, 1, 1)
    nan = np.nan
    expected = np.array([[0.0, nan, 1.0], [nan, nan, nan], [2.0, nan, nan]])
    np.testing.assert_array_equal(digits.mosaic(images, columns=2), expected)
    tiles = np.random.default_rng(3).random((7, 2, 3))
    built = digits.mosaic(tiles, columns=3, gap=2)
    assert built.shape == (3 * 4 - 2, 3 * 5 - 2)
    for k in range(7):
        row, col = divmod(k, 3)
        np.testing.assert_array_equal(built[row * 4 : row * 4 + 2, col * 5 : col * 5 + 3], tiles[k])
    assert np.isnan(built[8:, 5:]).all()  # tiles 7 and 8 of the last row: empty


@pytest.mark.parametrize(("hidden", "columns"), [(1, 1), (25, 5), (50, 10), (100, 10), (37, 7)])
def test_w1_grid_columns(hidden, columns):
    assert digits.grid_columns(hidden) == columns


def test_w1_filters_draws_column_j_scaled_at_tile_j():
    w1 = np.random.default_rng(4).normal(size=(784, 50))
    fig = digits.w1_filters(w1, (28, 28))
    drawn = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)
    assert drawn.shape == (5 * 29 - 1, 10 * 29 - 1)  # 50 units: 10 x 5 tiles, 1-pixel lines
    for j in (0, 9, 10, 37, 49):
        row, col = divmod(j, 10)
        tile = drawn[row * 29 : row * 29 + 28, col * 29 : col * 29 + 28]
        np.testing.assert_allclose(tile, w1[:, j].reshape(28, 28) / np.abs(w1[:, j]).max())
    assert np.isnan(drawn[28, :]).all() and np.isnan(drawn[:, 28]).all()


def test_the_misclassified_figure_titles_each_digit_with_its_labels():
    images = np.random.default_rng(5).random((7, 28, 28))
    true, predicted = np.array([1, 2, 3, 4, 5, 6, 7]), np.array([7, 1, 8, 9, 3, 0, 1])
    fig = digits.misclassified(images, true, predicted, n_wrong=40, n_test=100)
    labels = texts_of(fig.axes[0])
    assert labels == [f"true {t} \u00b7 pred {p}" for t, p in zip(true, predicted, strict=True)]
    assert "the first 7 of 40 wrong out of 100" in fig.get_suptitle()
    none = digits.misclassified(np.empty((0, 28, 28)), np.array([]), np.array([]), 0, 100)
    assert texts_of(none.axes[0]) == ["no test digit is misclassified"]
