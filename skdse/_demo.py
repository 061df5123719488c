"""The demonstration: DSE and DSMI of a network's hidden layer during training.

A small multilayer perceptron is trained on scikit-learn's bundled digits,
once with the true labels and once with shuffled labels. After each epoch
the hidden layer's activations on held-out digits are scored: DSE(Z) and
DSMI(Z; Y) against the held-out true labels. With true labels DSMI rises as
the layer learns the classes; with shuffled labels there is nothing to learn
and it stays near where it started (the paper's qualitative finding).
"""

from __future__ import annotations

import csv
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from ._engine.progress import progress
from ._entropy import diffusion_spectral_entropy
from ._mi import diffusion_spectral_mutual_information

COLUMNS = ("labels", "epoch", "train_acc", "test_acc", "DSE", "DSMI")


def hidden_layer(mlp: MLPClassifier, X: np.ndarray) -> np.ndarray:
    """ReLU activations of the first hidden layer of a fitted ``MLPClassifier``."""
    return np.maximum(X @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)


def run_demo(
    *,
    epochs: int = 30,
    hidden: int = 64,
    output: str | Path | None = "skdse-demo",
    random_state: int = 0,
    verbose: int = 1,
    print_table: bool = True,
) -> list[dict]:
    """Train on digits with true and with shuffled labels, scoring each epoch.

    Parameters
    ----------
    epochs : int, default=30
        Passes over the training digits (``partial_fit`` calls).
    hidden : int, default=64
        Width of the hidden layer.
    output : path or None, default="skdse-demo"
        Folder for ``demo.csv`` and ``demo.png`` (the figure needs
        matplotlib); None writes nothing.
    random_state : int, default=0
    verbose : int, default=1
        Progress bar over epochs (tqdm, if installed).
    print_table : bool, default=True

    Returns
    -------
    rows : list of dict
        One per (labels, epoch) with the keys of ``COLUMNS``.

    Examples
    --------
    >>> from skdse._demo import run_demo
    >>> rows = run_demo(epochs=2, output=None, verbose=0, print_table=False)
    >>> sorted({r["labels"] for r in rows}), len(rows)
    (['shuffled', 'true'], 4)
    """
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=random_state
    )
    shuffled = np.random.default_rng(random_state).permutation(y_tr)
    rows = []
    for name, labels in (("true", y_tr), ("shuffled", shuffled)):
        mlp = MLPClassifier(
            hidden_layer_sizes=(hidden,), learning_rate_init=1e-2, random_state=random_state
        )
        for epoch in progress(
            range(1, epochs + 1), total=epochs, desc=f"{name} labels", verbose=verbose
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.partial_fit(X_tr, labels, classes=np.arange(10))
            Z = hidden_layer(mlp, X_te)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # dead units early on
                dse = diffusion_spectral_entropy(Z, random_state=random_state)
                dsmi = diffusion_spectral_mutual_information(Z, y_te, random_state=random_state)
            rows.append(
                dict(
                    labels=name,
                    epoch=epoch,
                    train_acc=float(mlp.score(X_tr, labels)),
                    test_acc=float(mlp.score(X_te, y_te)),
                    DSE=dse,
                    DSMI=dsmi,
                )
            )
    elapsed = time.perf_counter() - start
    if print_table:
        print(format_table(rows))
        print(f"\n{epochs} epochs x 2 runs in {elapsed:.1f} s")
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "demo.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        written = [out / "demo.csv"]
        if _save_figure(rows, out / "demo.png"):
            written.append(out / "demo.png")
        if print_table:
            print("wrote " + ", ".join(str(p) for p in written))
    return rows


def format_table(rows: list[dict]) -> str:
    """The demo's rows as a text table, true and shuffled side by side."""
    by = {(r["labels"], r["epoch"]): r for r in rows}
    epochs = sorted({r["epoch"] for r in rows})
    lines = [
        f"{'':>5} | {'true labels':^30} | {'shuffled labels':^30}",
        f"{'epoch':>5} | {'test acc':>8} {'DSE':>10} {'DSMI(Z;Y)':>10} | "
        f"{'test acc':>8} {'DSE':>10} {'DSMI(Z;Y)':>10}",
    ]
    for e in epochs:
        cells = []
        for name in ("true", "shuffled"):
            r = by.get((name, e))
            cells.append(
                f"{r['test_acc']:>8.3f} {r['DSE']:>10.3f} {r['DSMI']:>10.3f}" if r else " " * 30
            )
        lines.append(f"{e:>5} | {cells[0]} | {cells[1]}")
    return "\n".join(lines)


def _save_figure(rows, path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure (pip install 'skdse[cli]')")
        return False
    from .plotting import plot_training_curves

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, measure in zip(axes, ("DSE", "DSMI")):
        curves = {}
        for name in ("true", "shuffled"):
            mine = [r for r in rows if r["labels"] == name]
            curves[f"{name} labels"] = [r[measure] for r in mine]
        plot_training_curves([r["epoch"] for r in mine], curves, ax=ax)
        ax.set_title("DSE(Z)" if measure == "DSE" else "DSMI(Z; Y)")
    fig.suptitle("hidden layer of an MLP on held-out digits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main() -> None:
    """``python -m skdse`` without arguments: the demo with its defaults."""
    run_demo()
