"""Figures of a run on image data (MNIST): W1's columns as images, the misclassified digits.

Each figure is ONE ``imshow`` of a mosaic (``mosaic``: the tiles in one array, NaN between
them), not a subplot per tile: a sweep job renders these on a training core, and W1 of 100
units as 100 subplots takes ~1 s to draw, as one mosaic ~0.15 s
(``tests/benchmarks/bench_figures.py``). No text on the 784-pixel images themselves. Fixed
margins, as in ``layout``.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from pipeline.figures.layout import side_colorbar

GAP_COLOR = "0.3"  # the grid lines between tiles (NaN in the mosaic)
TILE_INCHES = 0.62  # drawn width of one filter of W1 (28 x 28 and its gap), at least
GRID_INCHES = 4.0  # drawn width of W1's grid, at least
DIGIT_INCHES = 1.05  # drawn width of one misclassified digit, room for its labels


def mosaic(images: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """The ``images`` (n, h, w) tiled row by row, ``columns`` to a row, ``gap`` pixels of NaN
    between tiles and in the unused tiles of the last row.

    Returns
    -------
    ndarray of float64, shape (rows * (h + gap) - gap, columns * (w + gap) - gap), with
    rows = ceil(n / columns); image ``k`` at tile row ``k // columns``, column ``k % columns``.
    """
    n, height, width = images.shape
    rows = max(1, math.ceil(n / columns))
    tiles = np.full((rows * columns, height + gap, width + gap), np.nan)
    tiles[:n, :height, :width] = images
    grid = tiles.reshape(rows, columns, height + gap, width + gap).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (height + gap), columns * (width + gap))
    return grid[: rows * (height + gap) - gap, : columns * (width + gap) - gap]


def grid_columns(n: int) -> int:
    """Tiles per row for ``n`` tiles: a divisor of ``n`` between sqrt(n) and 2 sqrt(n) when
    there is one (50 -> 10 x 5, no empty tiles), else ceil(sqrt(n))."""
    root = math.sqrt(n)
    fits = [c for c in range(math.ceil(root), int(2 * root) + 1) if n % c == 0]
    return fits[0] if fits else max(1, math.ceil(root))


def w1_filters(w1: np.ndarray, image_shape: tuple[int, int]) -> Figure:
    """w1: (D, H) first-layer weights, D = h * w of ``image_shape``; column j (hidden unit j)
    drawn as an (h, w) image, scaled by its largest |weight| (red +, blue -), row by row."""
    hidden = w1.shape[1]
    largest = np.abs(w1).max(axis=0)
    scaled = w1 / np.where(largest > 0, largest, 1.0)
    columns = grid_columns(hidden)
    rows = math.ceil(hidden / columns)
    tile_inches = max(TILE_INCHES, GRID_INCHES / columns)
    fig, ax = _mosaic_figure(columns, rows, tile_inches, right_inches=1.1)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad=GAP_COLOR)
    tiles = mosaic(scaled.T.reshape(hidden, *image_shape), columns)
    image = ax.imshow(tiles, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    side_colorbar(fig, image, [ax], "weight / largest |weight| of its unit")
    fig.suptitle(f"W1: the {w1.shape[0]} input weights of each hidden unit (unit 0 top left)")
    return fig


def misclassified(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, n_wrong: int, n_test: int
) -> Figure:
    """images: (n, h, w) test digits the net gets wrong, ``true`` and ``predicted`` (n,) their
    labels; ``n_wrong`` of the ``n_test`` test digits are wrong in all."""
    columns = max(1, min(len(images), 5))
    rows = max(1, math.ceil(len(images) / columns))
    height, width = images.shape[1:]
    label_rows = height // 3  # room above each digit for its labels
    padded = np.pad(images, ((0, 0), (label_rows, 0), (0, 0)), constant_values=np.nan)
    fig, ax = _mosaic_figure(columns, rows, DIGIT_INCHES, aspect=(height + label_rows) / height)
    cmap = mpl.colormaps["gray_r"].with_extremes(bad="white")
    ax.imshow(mosaic(padded, columns, gap=2), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for k, (label, guess) in enumerate(zip(true.tolist(), predicted.tolist(), strict=True)):
        row, col = divmod(k, columns)
        x, y = col * (width + 2) + width / 2, row * (height + label_rows + 2) + label_rows / 2
        ax.text(x, y, f"true {label} \u00b7 pred {guess}", ha="center", va="center", fontsize=8)
    if not len(images):
        ax.text(0.5, 0.5, "no test digit is misclassified", ha="center", transform=ax.transAxes)
    shown = f"the first {len(images)} of" if len(images) < n_wrong else "all"
    fig.suptitle(f"Misclassified test digits: {shown} {n_wrong} wrong out of {n_test}")
    return fig


def _mosaic_figure(
    columns: int, rows: int, tile_inches: float, aspect: float = 1.0, right_inches: float = 0.0
) -> tuple[Figure, object]:
    """A figure for ``columns`` x ``rows`` tiles ``tile_inches`` wide (``aspect``: their
    height / width) under a title, ``right_inches`` free at the right; its one axis."""
    grid_width, grid_height = columns * tile_inches, rows * tile_inches * aspect
    width, height = max(5.5, grid_width + right_inches + 0.3), grid_height + 0.6
    fig = Figure(figsize=(width, height))
    left = (width - grid_width - right_inches) / 2
    ax = fig.add_axes((left / width, 0.1 / height, grid_width / width, grid_height / height))
    ax.set_axis_off()
    return fig, ax
