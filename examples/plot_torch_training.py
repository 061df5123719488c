"""
DSE and DSMI of a PyTorch network's layers during training
==========================================================

A small convolutional network is trained with PyTorch on scikit-learn's
digits (8x8 images), once with the true labels and once with the training
labels shuffled, so that the only way to fit them is to memorise them. After each
epoch, forward hooks capture three layers' activations on held-out digits and
skdse scores them: DSE(Z) and DSMI(Z; Y) against the held-out *true* labels,
beside the two measures users compare them with, RankMe's effective rank of
Z (:func:`skdse.baselines.effective_rank`) and the Vendi score of its
Gaussian kernel (:func:`skdse.baselines.vendi_score`, the kernel DSE uses).

The activations are handed to skdse as the torch tensors themselves, the
convolutional blocks' 4-D outputs included (``flatten=True`` takes each
image's channels x height x width as its features): skdse computes on the
array's own device (through the array API), so on a GPU the layers are
scored on the GPU, with no copy to the host. With the true labels
DSMI rises as the layers learn the classes, most in the deepest layer; with
shuffled labels the training accuracy creeps above chance (memorisation
starts) while the held-out accuracy stays at chance and the layers gain far
less information about the true classes (the paper's memorisation
experiment in miniature: ten epochs, seconds on a CPU). The effective rank
and the Vendi score move with DSE (with the true labels all three fall in
the first epoch, most in the dense layer, then recover slowly); like DSE
they see the activations only, so DSMI is the one of the four that tells the
true-label run from the shuffled one.
"""

# %%
# Data, network and hooks
# -----------------------
# The held-out digits are kept on the training device. The hooks store each
# layer's output as it is (a 4-D tensor for the convolutional blocks).

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from skdse import diffusion_spectral_entropy, diffusion_spectral_mutual_information
from skdse.baselines import effective_rank, vendi_score

start = time.perf_counter()
device = "cuda" if torch.cuda.is_available() else "cpu"
# the network and the 360-point kernels are tiny: one CPU thread is fastest, and
# it is not slowed tenfold when other processes share the cores (a GPU ignores this)
torch.set_num_threads(1)
EPOCHS = 10
LAYERS = ("conv1", "conv2", "dense")
MEASURES = ("DSE", "DSMI", "rank", "Vendi")  # the last two: effective rank, Vendi score

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
X_te = torch.as_tensor(X_te, device=device)


def make_network():
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),  # 16x4x4
        nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),  # 32x2x2
        nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU()),  # 64
        nn.Linear(64, 10),
    ).to(device)


def hook_layers(net):
    """Record the outputs of the first three blocks in a dict, on every forward pass."""
    acts = {}
    for name, block in zip(LAYERS, net):
        block.register_forward_hook(
            lambda mod, inp, out, name=name: acts.__setitem__(name, out.detach())
        )
    return acts


# %%
# Scoring the layers
# ------------------
# One evaluation pass on the held-out digits fills the hooks; each activation
# is scored where it lives, (N, C, H, W) taken as (N, C*H*W) by ``flatten=True``.


def score_layers(net, acts):
    """Held-out accuracy and, for each measure, its value on each layer."""
    net.eval()
    with torch.no_grad():
        test_acc = (net(X_te).argmax(1).cpu().numpy() == y_te).mean()
    scores = {m: [] for m in MEASURES}
    for name in LAYERS:
        Z = acts[name]
        scores["DSE"].append(diffusion_spectral_entropy(Z, flatten=True, random_state=0))
        scores["DSMI"].append(
            diffusion_spectral_mutual_information(Z, y_te, flatten=True, random_state=0)
        )
        scores["rank"].append(effective_rank(Z, flatten=True))
        scores["Vendi"].append(vendi_score(Z, flatten=True))
    return test_acc, scores


def train(labels):
    torch.manual_seed(0)
    net = make_network()
    acts = hook_layers(net)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    data = torch.as_tensor(X_tr, device=device)
    target = torch.as_tensor(labels, device=device)
    gen = torch.Generator().manual_seed(0)
    history = [(0, None, *score_layers(net, acts))]
    for epoch in range(1, EPOCHS + 1):
        net.train()
        correct = 0
        for idx in torch.randperm(len(data), generator=gen).split(32):
            idx = idx.to(device)
            out = net(data[idx])
            loss = nn.functional.cross_entropy(out, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == target[idx]).sum().item()
        history.append((epoch, correct / len(data), *score_layers(net, acts)))
    return history


# %%
# Training with true and with shuffled labels
# -------------------------------------------

runs = {
    "true": train(y_tr),
    "shuffled": train(np.random.default_rng(0).permutation(y_tr)),
}

# One row per epoch; for each layer, DSE and DSMI (bits), the effective rank
# and the Vendi score (numbers of directions and of distinct points).

WIDTH = 6 * len(MEASURES) + len(MEASURES) - 1
head = f"{'':20}" + " | ".join(f"{name:^{WIDTH}}" for name in LAYERS)
head += f"\n{'epoch':>5} {'train':>6} {'test':>6} " + " | ".join(
    " ".join(f"{m:>6}" for m in MEASURES) for _ in LAYERS
)
for labels, history in runs.items():
    print(f"\n{labels} labels (accuracy on the training/held-out digits)")
    print(head)
    for epoch, train_acc, test_acc, scores in history:
        cells = [
            " ".join(
                f"{scores[m][i]:>6.3f}" if m in ("DSE", "DSMI") else f"{scores[m][i]:>6.1f}"
                for m in MEASURES
            )
            for i in range(len(LAYERS))
        ]
        train = "-" if train_acc is None else f"{train_acc:.3f}"
        print(f"{epoch:>5} {train:>6} {test_acc:>6.3f} " + " | ".join(cells))
print(f"\non {device}, {time.perf_counter() - start:.1f} s")

# %%
# Every layer over the epochs
# ---------------------------
# Solid lines: true labels; dashed: shuffled labels. One colour per layer. The
# effective rank and the Vendi score sit below DSE and DSMI.

TITLES = {
    "DSE": ("DSE(Z)", "bits"),
    "DSMI": ("DSMI(Z; Y), held-out true labels", "bits"),
    "rank": ("effective rank of Z (RankMe)", "directions"),
    "Vendi": ("Vendi score of Z's Gaussian kernel", "distinct points"),
}
fig, axes = plt.subplots(2, 2, figsize=(10, 8), sharex=True)
for labels, style in (("true", "-"), ("shuffled", "--")):
    history = runs[labels]
    epochs = [row[0] for row in history]
    for i, (name, colour) in enumerate(zip(LAYERS, ("C0", "C1", "C2"))):
        for ax, measure in zip(axes.flat, MEASURES):
            values = [row[3][measure][i] for row in history]
            ax.plot(epochs, values, style, color=colour, marker="o", label=f"{name}, {labels}")
for ax, measure in zip(axes.flat, MEASURES):
    title, unit = TITLES[measure]
    ax.set_title(title)
    ax.set_ylabel(unit)
for ax in axes[1]:
    ax.set_xlabel("epoch")
axes[0, 1].legend(fontsize="small")
fig.tight_layout()
