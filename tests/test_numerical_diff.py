"""The notebook's section 4.3.1 as a task: the two difference formulas, the stage's rows for
every step h = 10**-k, its validation, a tracked run read back (nan included) and the sweep."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import ConfigError
from pipeline.run import run
from pipeline.stages.numerical_diff import differentiate, function_1
from pipeline.tracking.recorder import JobInfo
from pipeline.validation import validate
from scratchnn.gradient import forward_diff, numerical_diff
from tests.conftest import compose_config, run_pipeline
from tests.test_sweep import children_of

K = np.arange(1, 51)


def f(x):
    return 0.01 * x**2 + 0.1 * x


@pytest.mark.parametrize("x", [5.0, np.float64(5.0)])
def test_central_difference_at_1e_4_is_the_notebooks_number(x):
    assert numerical_diff(f, x, 1e-4) == 0.1999999999990898


def test_forward_difference_is_off_by_its_truncation_error():
    # (f(x+h) - f(x)) / h = 0.02 x + 0.1 + 0.01 h exactly; only rounding is left
    for x in (5.0, 10.0):
        assert forward_diff(f, x, 1e-4) == pytest.approx(0.02 * x + 0.1 + 1e-6, abs=1e-11)


def test_at_1e_50_both_give_exactly_zero_in_float64():
    assert 5.0 + 1e-50 == 5.0
    assert forward_diff(f, 5.0, 1e-50) == 0.0 and numerical_diff(f, 5.0, 1e-50) == 0.0
    assert forward_diff(f, 5.0) == 0.0  # the notebook's h = 10e-50


def test_float32_stays_float32_and_h_rounds_to_zero():
    assert np.float32(1e-50) == 0.0  # the notebook's cell
    x = np.float32(5.0)
    for diff in (forward_diff, numerical_diff):
        assert diff(f, x, np.float32(1e-3)).dtype == np.float32
        assert diff(f, x, 1e-3).dtype == np.float32  # a Python float h is taken as float32
        with pytest.warns(RuntimeWarning, match="invalid"):
            assert np.isnan(diff(f, x, np.float32(1e-50)))  # 0/0


@pytest.mark.parametrize("x", [5.0, 10.0])
@pytest.mark.parametrize("method", ["forward", "central"])
def test_float64_rows_for_every_step(method, x):
    rows = differentiate(method, x, "float64", 50)
    assert rows.k.tolist() == K.tolist()
    assert rows.h.tolist() == [float(f"1e-{k}") for k in K]
    slope = forward_diff if method == "forward" else numerical_diff
    assert rows.estimate.tolist() == [slope(f, x, float(f"1e-{k}")) for k in K]
    exact = 0.02 * x + 0.1
    np.testing.assert_allclose(rows.abs_error, np.abs(rows.estimate - exact), rtol=0, atol=1e-16)
    assert np.all(rows.abs_error > 0)  # 0.2 and 0.3 are no binary fractions: never exactly 0
    collapsed = x + rows.h == x  # from h = 1e-16 at x = 5 and 10
    assert collapsed.tolist() == (K >= 16).tolist()
    assert np.all(rows.estimate[collapsed] == 0)
    if method == "forward":  # the truncation error 0.01 h, until rounding takes over
        np.testing.assert_allclose(rows.abs_error[:5], 0.01 * rows.h[:5], rtol=1e-3)
    else:  # no truncation error for a quadratic: rounding alone, below 1e-13 at h >= 1e-3
        assert np.all(rows.abs_error[:3] < 1e-13)
    if method == "central" and x == 5.0:
        assert rows.estimate[3] == 0.1999999999990898


def test_float32_rows_compute_in_float32_and_give_nan_where_h_is_zero():
    rows = differentiate("central", 5.0, "float32", 50)
    assert rows.h.dtype == np.float32 and rows.estimate.dtype == np.float32
    assert rows.h.tolist() == [float(np.float32(f"1e-{k}")) for k in K]
    assert (rows.h == 0).tolist() == (K >= 46).tolist()  # below float32's smallest subnormal
    assert np.isnan(rows.estimate[45:]).all() and np.isnan(rows.abs_error[45:]).all()
    assert np.isfinite(rows.estimate[:45]).all()
    assert rows.estimate[0] == numerical_diff(f, np.float32(5), np.float32(0.1))
    assert np.all(rows.estimate[(np.float32(5) + rows.h == 5) & (rows.h > 0)] == 0)
    assert rows.exact == 0.2


def test_the_stage_raises_no_warning(recwarn):
    differentiate("forward", 10.0, "float32", 50)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert function_1(np.float32(5)).dtype == np.float32


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("diff.method=backward", "diff.method='backward' is not allowed; allowed: forward, centr"),
        ("diff.dtype=float16", "diff.dtype='float16' is not allowed; allowed: float32, float64"),
        ("diff.x=nan", "diff.x=nan is not allowed; allowed: a finite number of float64"),
        ("diff.x=1e39", "diff.x=1e+39 is not allowed; allowed: a finite number of float32"),
        ("diff.k_max=0", "diff.k_max=0 is not allowed; allowed: an integer in 1..307"),
        ("diff.k_max=400", "diff.k_max=400"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, override, message):
    dtype = "diff.dtype=float32" if "1e39" in override else "diff.dtype=float64"
    cfg = compose_config(tmp_path, "task=numerical_diff", dtype, override)
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_tracked_run_stores_every_step_and_nan(tmp_path, empty_store):
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    cfg = compose_config(tmp_path, "task=numerical_diff", "diff.dtype=float32", "diff.x=10")
    result = run(cfg, JobInfo(output_dir=tmp_path / "job"))  # through the writer process
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    stored = client.get_run(result["run_id"])
    assert stored.info.status == "FINISHED" and stored.info.run_name == "central x=10 float32"
    assert stored.data.tags["task"] == "numerical_diff"
    rows = differentiate("central", 10.0, "float32", 50)
    for key, expected in (("estimate", rows.estimate), ("abs_error", rows.abs_error)):
        history = sorted(client.get_metric_history(result["run_id"], key), key=lambda m: m.step)
        assert [m.step for m in history] == K.tolist()
        np.testing.assert_array_equal([m.value for m in history], expected.astype(float))
        assert all(math.isnan(m.value) for m in history[45:])
    best = int(np.nanargmin(rows.abs_error))
    assert stored.data.metrics["min_abs_error"] == rows.abs_error[best]
    assert stored.data.metrics["best_h"] == float(rows.h[best])
    table = client.download_artifacts(result["run_id"], "differences.csv", str(tmp_path))
    lines = list(csv.DictReader(open(table)))
    assert [int(line["k"]) for line in lines] == K.tolist()
    assert [float(line["h"]) for line in lines] == rows.h.astype(float).tolist()
    assert lines[-1]["estimate"] == "nan" and float(lines[0]["estimate"]) == rows.estimate[0]


@pytest.mark.slow
def test_sweep_h_runs_eight_children_and_draws_error_against_h(outputs, store_uri):
    no_data = outputs / "no-mnist"  # the sweep must not fetch MNIST: this dir stays absent
    done = run_pipeline(
        "--multirun", "sweep=numerical_diff", f"outputs_dir={outputs}", f"data.data_dir={no_data}"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not no_data.exists()
    client = MlflowClient(store_uri)
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    parent = client.search_runs([experiment_id], "tags.`scratchnn.role` = 'sweep'")[0]
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_jobs"] == 8
    assert "best_run_id" not in parent.data.tags  # no validation accuracy to rank by
    children = children_of(client, experiment_id, parent.info.run_id)
    combos = {
        (c.data.params["diff.method"], c.data.params["diff.x"], c.data.params["diff.dtype"])
        for c in children
    }
    assert combos == {
        (m, x, d) for m in ("forward", "central") for x in ("5.0", "10.0")
        for d in ("float64", "float32")
    }  # fmt: skip
    for child in children:
        assert child.info.status == "FINISHED"
        errors = client.get_metric_history(child.info.run_id, "abs_error")
        assert sorted(m.step for m in errors) == K.tolist()
        nan_steps = sorted(m.step for m in errors if math.isnan(m.value))
        float32 = child.data.params["diff.dtype"] == "float32"
        assert nan_steps == (list(range(46, 51)) if float32 else [])
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert figures == {"figures/error_vs_h.png"}
    summary = client.download_artifacts(parent.info.run_id, "summary.csv", str(outputs))
    assert len(list(csv.DictReader(open(summary)))) == 8


def test_the_figure_leaves_nan_and_zero_out_and_marks_zero_on_the_edge():
    from pipeline.figures.lessons import error_vs_h

    h = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    errors = np.array([1e-3, 0.0, 1e-5, np.nan])
    fig = error_vs_h(h, {"x = 5": {("forward", "float32"): errors}}, {"x = 5": {"g": h}})
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    drawn = np.asarray(lines["forward float32"].get_ydata(), dtype=float)
    np.testing.assert_array_equal(np.isnan(drawn), [False, True, False, True])
    assert lines["forward float32: error exactly 0"].get_xdata().tolist() == [1e-2]
    assert lines["g"].get_ydata().tolist() == h.tolist()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlim()[0] > ax.get_xlim()[1]  # h shrinks to the right
    assert "h rounded to 0: nan" in ax.get_legend_handles_labels()[1]
