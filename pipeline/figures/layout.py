"""The layout helpers of every figure module: margins in inches, a colorbar beside axes.

The run and sweep figures have fixed margins (``margins_in_inches``): ``tight_layout`` would
draw each figure twice (every job of a sweep renders five figures on its training core, and
the sweep's summary two more at its end).
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def margins_in_inches(fig: Figure, left: float, right: float, bottom: float, top: float,
                      **spacing: float) -> None:  # fmt: skip
    """``fig.subplots_adjust`` with the margins in inches (the same text room at any size);
    ``spacing``: its ``wspace`` / ``hspace``."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, **spacing)  # fmt: skip


def side_colorbar(fig: Figure, image: Any, axes: list[Any], label: str) -> None:
    """A colorbar for ``image``, as tall as ``axes`` and 0.1 inch right of the last."""
    boxes = [ax.get_position() for ax in axes]
    width = fig.get_figwidth()
    bottom, top = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
    bar = fig.add_axes((max(b.x1 for b in boxes) + 0.1 / width, bottom, 0.14 / width, top - bottom))
    fig.colorbar(image, cax=bar, label=label)
