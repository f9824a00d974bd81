"""loss.png: training loss per step and validation loss where measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_losses(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    steps = [row["step"] for row in rows]
    axis.plot(steps, [row["loss"] for row in rows], label="training loss", linewidth=1)
    val = [(row["step"], row["val_loss"]) for row in rows if row.get("val_loss") is not None]
    if val:
        axis.plot(*zip(*val, strict=True), marker="o", label="validation loss")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss (nats per trained token)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
