"""Stochastic Lanczos quadrature (SLQ) for the spectral sums behind DSE.

DSE needs only ``Z(t) = sum_i |lambda_i|^t`` and ``S(t) = sum_i |lambda_i|^t
log |lambda_i|^t``: ``DSE = log Z - S / Z``. Both are traces of matrix
functions, ``tr f(A)``, estimated from matrix products alone:

1. The top eigenpair is known exactly (``lambda = 1``, ``v = sqrt(d) /
   ||sqrt(d)||``); it contributes ``f(1)`` and is projected out of every
   Krylov vector, so the estimate runs on ``A' = (I - vv^T) A (I - vv^T)``.
2. Hutch++-style deflation: ``n_deflate`` directions ``Q`` found by subspace
   iteration on ``A'`` capture its largest eigenvalues; ``tr(Q^T f(A') Q)``
   is computed deterministically (Lanczos quadrature from each column).
3. The rest, ``tr((I - QQ^T) f(A') (I - QQ^T))``, is estimated from
   ``n_probes`` Rademacher probes projected off ``[v, Q]``, each through
   ``n_steps`` Lanczos steps and Gauss quadrature on its tridiagonal
   matrix: with full reorthogonalisation while the Krylov basis fits in
   memory, else with the three-term recurrence alone (three vectors per
   recurrence; see :func:`lanczos_quadrature`).

All Lanczos recurrences (deflation columns and probes) advance together, so
each step costs one block product with the operator. The quadrature nodes
and weights are kept, so DSE at any other t costs nothing, and the spread
over probes gives a standard error (jackknife).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from array_api_compat import device

from .backend import to_numpy
from .progress import progress
from .spectrum import check_order, jackknife_std, renyi_entropy_nats

#: Subspace iterations that find the deflated directions.
N_POWER = 2


def _f_and_g(nodes: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """``|x|^t`` and ``|x|^t log |x|^t`` (0 where x = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = t * np.log(np.abs(nodes))
        f = np.exp(log_f)
        g = np.where(f > 0, f * log_f, 0.0)
    return f, g


@dataclass(frozen=True)
class QuadratureSpectrum:
    """A quadrature rule for the spectrum of a diffusion operator.

    ``tr f(A) ~= f(1) + sum(fixed_weights * f(fixed_nodes))
    + mean_p sum(probe_weights[p] * f(probe_nodes[p]))``.
    """

    n: int
    fixed_nodes: np.ndarray
    fixed_weights: np.ndarray
    probe_nodes: np.ndarray
    probe_weights: np.ndarray
    n_matvecs: int

    def _sums(self, t: float) -> tuple[float, float, np.ndarray, np.ndarray]:
        f, g = _f_and_g(self.fixed_nodes, t)
        z0 = 1.0 + float(np.sum(self.fixed_weights * f))
        s0 = float(np.sum(self.fixed_weights * g))
        f, g = _f_and_g(self.probe_nodes, t)
        return (
            z0,
            s0,
            np.sum(self.probe_weights * f, axis=1),
            np.sum(self.probe_weights * g, axis=1),
        )

    def _entropy_nats(self, z: np.ndarray, s: np.ndarray) -> np.ndarray:
        z = np.maximum(z, 1.0)  # the exact top eigenvalue alone gives Z >= 1
        return np.clip(np.log(z) - s / z, 0.0, np.log(self.n))

    def _renyi_nats(self, t: float, order: float, jackknife: bool) -> np.ndarray:
        """Rényi entropy (nats) of order ``order != 1`` of the rule's measure.

        The rule is a point measure on the spectrum: the known top
        eigenvalue 1 with mass 1, the fixed nodes with their weights, and
        each probe's nodes with its weights over the number of probes, so
        ``sum mass |x|^s`` is its estimate of ``Z(s) = tr |A|^s`` for every
        power, ``s = t`` and ``s = t * order`` alike (see
        :func:`~skdse._engine.spectrum.spectral_entropy`). One row per
        jackknife replicate (each probe left out in turn), or one row.
        """
        k, m = self.probe_nodes.shape
        nodes = np.concatenate([[1.0], self.fixed_nodes.ravel(), self.probe_nodes.ravel()])
        fixed = np.concatenate([[1.0], self.fixed_weights.ravel()])
        if jackknife:  # replicate i: probe i's weights 0, the others' over k - 1
            keep = 1.0 - np.eye(k)
            probe_mass = (keep[:, :, None] * self.probe_weights[None]).reshape(k, k * m) / (k - 1)
        else:
            probe_mass = self.probe_weights.reshape(1, k * m) / max(k, 1)
        mass = np.concatenate(
            [np.broadcast_to(fixed, (probe_mass.shape[0], fixed.size)), probe_mass], axis=1
        )
        # |Ritz value| <= 1 up to rounding: 1 is the largest eigenvalue (order = inf uses it)
        with np.errstate(divide="ignore"):
            lw = t * np.log(np.minimum(np.abs(nodes), 1.0))
        return np.clip(renyi_entropy_nats(lw, order, mass), 0.0, np.log(self.n))

    def entropy(self, t, base: float, order: float = 1.0):
        """DSE estimate at diffusion time(s) ``t``, of Rényi order ``order`` (1: Shannon).

        For ``t * order < 1`` the rule integrates ``|x|^(t order)``, which is
        not smooth at 0, and the estimate is biased beyond its error bar
        (measured: 0.1-0.2 bits at N = 2000, t = 1, order 0.5).
        """
        order = check_order(order)
        if np.ndim(t):
            return np.array([self.entropy(float(ti), base, order) for ti in np.ravel(t)]).reshape(
                np.shape(t)
            )
        if order != 1.0:
            return float(self._renyi_nats(t, order, jackknife=False)[0] / np.log(base))
        z0, s0, zp, sp = self._sums(t)
        if zp.size == 0:
            return float(self._entropy_nats(np.array(z0), np.array(s0)) / np.log(base))
        h = self._entropy_nats(np.array(z0 + zp.mean()), np.array(s0 + sp.mean()))
        return float(h / np.log(base))

    def entropy_jackknife(self, t: float, base: float, order: float = 1.0) -> np.ndarray:
        """The leave-one-probe-out estimates of :meth:`entropy` at one ``t``, shape (k,).

        Empty for fewer than two probes. Estimates that share their probes
        (one seed) can be combined replicate by replicate, so a jackknife of
        their combination sees the probe noise they share.
        """
        order = check_order(order)
        k = self.probe_nodes.shape[0]
        if k < 2:
            return np.empty(0)
        if order != 1.0:
            h = self._renyi_nats(t, order, jackknife=True)
        else:
            z0, s0, zp, sp = self._sums(t)
            zl = z0 + (zp.sum() - zp) / (k - 1)
            sl = s0 + (sp.sum() - sp) / (k - 1)
            h = self._entropy_nats(zl, sl)
        return h / np.log(base)

    def entropy_std(self, t, base: float, order: float = 1.0):
        """Jackknife standard error of :meth:`entropy` over the probes."""
        order = check_order(order)
        if np.ndim(t):
            return np.array(
                [self.entropy_std(float(ti), base, order) for ti in np.ravel(t)]
            ).reshape(np.shape(t))
        return jackknife_std(self.entropy_jackknife(t, base, order))


def lanczos_quadrature(matmat, starts, n_steps: int, v, xp, verbose=0, reorthogonalize=True):
    """Gauss quadrature of ``u^T f(A') u / ||u||^2`` for each start column u.

    Runs one Lanczos recurrence per column of ``starts`` (shape (n, k)), all
    together, with ``v`` projected out after every product. With
    ``reorthogonalize`` (the default) every new vector is orthogonalised
    (twice) against the recurrence's whole basis, kept in memory (k x
    n_steps vectors); without it, only the three-term recurrence runs
    (each vector orthogonalised, twice, against the two before it), so
    three vectors per recurrence are held whatever ``n_steps``. Its lost
    orthogonality repeats converged Ritz values ("ghosts"), but the Gauss
    rule of the finite-precision recurrence still integrates smooth
    functions of the spectrum accurately (Knizhnerman 1996; Ubaru, Chen &
    Saad, SIAM J. Matrix Anal. Appl. 38(4), 2017, section 4.3): the ghosts
    share the weight of the eigenvalue they copy. A recurrence that breaks
    down (its Krylov space is invariant) stops with an exact rule of fewer
    nodes. Vectors live in the operator's namespace ``xp`` (on its device);
    the small tridiagonal problems are solved on the host.

    Returns
    -------
    nodes, weights : ndarrays of shape (k, n_steps)
        Ritz values and squared first components of the Ritz vectors;
        unused slots have weight 0.
    """
    n, k = starts.shape
    dev = device(starts)
    m = max(1, min(n_steps, n - 1))
    norms = to_numpy(xp.linalg.vector_norm(starts, axis=0))
    basis = xp.zeros((k, m if reorthogonalize else 2, n), dtype=xp.float64, device=dev)
    alpha = np.zeros((k, m))
    beta = np.zeros((k, m))
    steps = np.full(k, m)
    active = norms > 0
    inv = xp.asarray(np.where(active, 1.0 / np.where(active, norms, 1.0), 0.0), device=dev)
    q = starts.T * inv[:, None]  # (k, n)
    for j in progress(range(m), total=m, desc="Lanczos steps", verbose=verbose):
        if reorthogonalize:
            basis[:, j, :] = q
            kept = basis[:, : j + 1, :]
        else:  # the previous vector and this one
            basis[:, 0, :] = basis[:, 1, :]
            basis[:, 1, :] = q
            kept = basis[:, (1 if j == 0 else 0) :, :]
        w = matmat(q.T).T  # (k, n)
        w = w - (w @ v)[:, None] * v[None, :]
        alpha[:, j] = to_numpy(xp.sum(q * w, axis=1))
        for _ in range(2):
            c = xp.matmul(kept, w[:, :, None])  # (k, j+1, 1)
            w = w - xp.matmul(xp.permute_dims(kept, (0, 2, 1)), c)[:, :, 0]
        b = to_numpy(xp.linalg.vector_norm(w, axis=1))
        done = active & (b <= 1e-10 * np.maximum(1.0, np.abs(alpha[:, j])))
        steps[done] = j + 1
        active &= ~done
        if j == m - 1 or not active.any():
            steps[active] = j + 1
            break
        beta[:, j] = np.where(active, b, 0.0)
        scale = xp.asarray(np.where(active, 1.0 / np.where(b > 0, b, 1.0), 0.0), device=dev)
        q = w * scale[:, None]

    nodes = np.zeros((k, m))
    weights = np.zeros((k, m))
    for i in range(k):
        if norms[i] == 0:
            continue
        s = steps[i]
        if s == 1:
            nodes[i, 0], weights[i, 0] = alpha[i, 0], 1.0
            continue
        theta, U = scipy.linalg.eigh_tridiagonal(alpha[i, :s], beta[i, : s - 1])
        nodes[i, :s] = theta
        weights[i, :s] = U[0] ** 2
    return nodes, weights


def _project_out(V, v, Q=None):
    V = V - v[:, None] * (v @ V)[None, :]
    if Q is not None and Q.shape[1]:
        V = V - Q @ (Q.T @ V)
    return V


def slq_spectrum(
    operator,
    *,
    n_steps: int,
    n_probes: int,
    n_deflate: int,
    rng: np.random.Generator,
    verbose: int = 0,
    reorthogonalize: bool = True,
) -> QuadratureSpectrum:
    """Quadrature rule for the spectrum of ``operator`` (see the module docstring).

    Parameters
    ----------
    operator : object with ``xp``, ``n``, ``degrees`` and ``matmat``
    n_steps : int
        Lanczos steps per recurrence (quadrature nodes).
    n_probes : int
        Rademacher probes for the stochastic part.
    n_deflate : int
        Directions deflated by subspace iteration (0 turns it off).
    rng : numpy Generator
        Draws the random vectors (on the host, then moved to the device).
    reorthogonalize : bool, default=True
        Full reorthogonalisation (the whole Krylov basis in memory) or the
        three-term recurrence alone; see :func:`lanczos_quadrature`.
    """
    xp, n = operator.xp, operator.n
    dev = device(operator.degrees)
    v = xp.sqrt(xp.astype(operator.degrees, xp.float64))
    v = v / xp.linalg.vector_norm(v)
    matvecs = 0
    r = min(n_deflate, n - 2)
    Q = xp.zeros((n, 0), dtype=xp.float64, device=dev)
    if r > 0:
        Y = _project_out(xp.asarray(rng.standard_normal((n, r)), device=dev), v)
        for _ in range(N_POWER):
            Y, _ = xp.linalg.qr(Y)
            Y = _project_out(operator.matmat(Y), v)
            matvecs += 1
        Q, _ = xp.linalg.qr(Y)
        Q, _ = xp.linalg.qr(_project_out(Q, v))
    probes = xp.asarray(rng.choice([-1.0, 1.0], size=(n, n_probes)), device=dev)
    starts = xp.concat([Q, _project_out(probes, v, Q)], axis=1)
    nodes, weights = lanczos_quadrature(
        operator.matmat, starts, n_steps, v, xp, verbose, reorthogonalize
    )
    matvecs += n_steps
    # ||u||^2 turns each rule into u^T f(A') u.
    weights = weights * to_numpy(xp.sum(starts * starts, axis=0))[:, None]
    r = Q.shape[1]
    return QuadratureSpectrum(
        n=n,
        fixed_nodes=nodes[:r],
        fixed_weights=weights[:r],
        probe_nodes=nodes[r:],
        probe_weights=weights[r:],
        n_matvecs=matvecs,
    )
