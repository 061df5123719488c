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

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

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

    @property
    def n_deflated(self) -> int:
        """Directions deflated (their part of the trace is deterministic)."""
        return int(self.fixed_nodes.shape[0])

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


class LocalVectors:
    """Where slq's vectors live for an operator of this process: its device.

    The :class:`VectorSpace` of NumPy, CuPy and PyTorch operators: vectors
    are arrays of ``xp`` on ``device``, written in place, read directly.
    """

    writable = True

    def __init__(self, xp, device=None):
        self.xp, self.device = xp, device

    def random(self, rng: np.random.Generator, kind: str, shape: tuple[int, int]):
        """``rng``'s standard normal (``"normal"``) or +-1 (``"rademacher"``) draws, here."""
        return self.xp.asarray(_draw(rng, kind, shape), device=self.device)

    def scale(self, V, c: np.ndarray):
        """The rows of ``V`` (k, n) times the host coefficients ``c`` (one per recurrence)."""
        return V * self.xp.asarray(c, device=self.device)[:, None]

    def vector(self, a):
        """A vector of the operator's (its degrees) as a vector here."""
        return a

    def host(self, *arrays) -> tuple[np.ndarray, ...]:
        """Small results (norms, dot products) on the host."""
        return tuple(to_numpy(a) for a in arrays)

    def keep(self, a):
        """``a`` kept for the steps that reuse it (computed already here)."""
        return a

    def lanczos_step(self, product, v, kept, scaling: Scaling | None = None):
        """The vector work of one Lanczos step after its product (see :class:`VectorSpace`).

        ``w = product.T`` with ``v`` projected out, ``alpha = q . w`` (q: the
        last of ``kept``), two classical Gram-Schmidt passes against
        ``kept``, ``b = ||w||`` (both on the host) and, with ``scaling``, the
        next vectors ``w * scaling(alpha, b)``.
        """
        xp = self.xp
        w = product.T
        w = self.keep(w - (w @ v)[:, None] * v[None, :])
        (alpha,) = self.host(xp.sum(kept[:, -1, :] * w, axis=1))
        for _ in range(2):
            c = xp.matmul(kept, w[:, :, None])  # (k, j+1, 1)
            w = w - xp.matmul(xp.permute_dims(kept, (0, 2, 1)), c)[:, :, 0]
        w = self.keep(w)
        (b,) = self.host(xp.linalg.vector_norm(w, axis=1))
        if scaling is None:
            return alpha, b, None
        return alpha, b, self.keep(self.scale(w, scaling(alpha, b)))


#: The coefficients ``(alpha, b) -> c`` (host arrays, one per recurrence) that scale a
#: Lanczos step's new vectors into the next ones (:func:`_next_scaling`).
Scaling = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _breakdown(active: np.ndarray, alpha: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The active recurrences whose new vector vanished at this step (their Krylov space
    is invariant): ``b`` negligible next to ``max(1, |alpha|)``."""
    return active & (b <= 1e-10 * np.maximum(1.0, np.abs(alpha)))


def _next_scaling(active: np.ndarray, alpha: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 / b`` for the recurrences still active after this step (:func:`_breakdown`), 0 for
    the others: the next Lanczos vectors from this step's (a :data:`Scaling` with ``active``
    bound; it runs on the host, or in a cluster's task)."""
    active = active & ~_breakdown(active, alpha, b)
    return np.where(active, 1.0 / np.where(b > 0, b, 1.0), 0.0)


class VectorSpace(Protocol):
    """Where slq's vectors live and how their small results reach the host.

    :class:`LocalVectors` on this process's device; a Dask cluster's
    (:class:`skdse._engine.dask.ClusterVectors`) keeps them in row chunks on the
    workers, so that the client holds only coefficients.
    """

    xp: object
    #: Whether vectors may be written in place (a preallocated Krylov basis).
    writable: bool

    def random(self, rng: np.random.Generator, kind: str, shape: tuple[int, int]): ...

    def scale(self, V, c: np.ndarray): ...

    def vector(self, a): ...

    def host(self, *arrays) -> tuple[np.ndarray, ...]: ...

    def keep(self, a): ...

    def lanczos_step(self, product, v, kept, scaling: Scaling | None = None):
        """One Lanczos step's vector work after its product: ``(alpha, b, q)``.

        ``product`` is ``A q^T`` (n, k) for the step's vectors q (k, n), the
        last of ``kept``: the recurrences' basis (k, j, n) where the space is
        :attr:`writable`, else the list of its (k, n) vectors. With ``w =
        product.T``: ``v`` projected out of w, ``alpha = q . w``, w
        orthogonalised twice against ``kept`` (classical Gram-Schmidt), ``b
        = ||w||``; ``alpha`` and ``b`` (k,) are returned on the host, with
        the next vectors ``q = w * scaling(alpha, b)`` kept (None without
        ``scaling``: the last step).
        """
        ...


def _draw(rng: np.random.Generator, kind: str, shape) -> np.ndarray:
    """The random start vectors of slq, drawn in C order (so row blocks drawn in turn are the
    same numbers)."""
    if kind == "normal":
        return rng.standard_normal(shape)
    return rng.choice([-1.0, 1.0], size=shape)


def lanczos_quadrature(
    matmat, starts, n_steps: int, v, space: VectorSpace, verbose=0, reorthogonalize=True
):
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
    nodes. Vectors live in ``space`` (:class:`VectorSpace`: the operator's
    device, or a cluster's workers); only the coefficients (two numbers per
    recurrence and step) come to the host, where the small tridiagonal
    problems are solved.

    Returns
    -------
    nodes, weights : ndarrays of shape (k, n_steps)
        Ritz values and squared first components of the Ritz vectors;
        unused slots have weight 0.
    """
    xp = space.xp
    n, k = starts.shape
    m = max(1, min(n_steps, n - 1))
    (norms,) = space.host(xp.linalg.vector_norm(starts, axis=0))
    if space.writable:
        basis = xp.zeros((k, m if reorthogonalize else 2, n), dtype=xp.float64, device=space.device)
    held: list = []  # the kept vectors of a space that is not written in place
    alpha = np.zeros((k, m))
    beta = np.zeros((k, m))
    steps = np.full(k, m)
    active = norms > 0
    inv = np.where(active, 1.0 / np.where(active, norms, 1.0), 0.0)
    q = space.keep(space.scale(starts.T, inv))  # (k, n)
    for j in progress(range(m), total=m, desc="Lanczos steps", verbose=verbose):
        if not space.writable:
            held = (held + [q])[-(m if reorthogonalize else 2) :]
            kept = held
        elif reorthogonalize:
            basis[:, j, :] = q
            kept = basis[:, : j + 1, :]
        else:  # the previous vector and this one
            basis[:, 0, :] = basis[:, 1, :]
            basis[:, 1, :] = q
            kept = basis[:, (1 if j == 0 else 0) :, :]
        last = j == m - 1
        scaling = None if last else partial(_next_scaling, active.copy())
        alpha[:, j], b, q = space.lanczos_step(matmat(q.T), v, kept, scaling)
        done = _breakdown(active, alpha[:, j], b)
        steps[done] = j + 1
        active &= ~done
        if last or not active.any():
            steps[active] = j + 1
            break
        beta[:, j] = np.where(active, b, 0.0)
    del held, kept, q

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
    if Q is not None:
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
    space: VectorSpace | None = None,
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
        Draws the random vectors (on the host, block by block where ``space``
        sends them elsewhere: the same numbers either way).
    reorthogonalize : bool, default=True
        Full reorthogonalisation (the whole Krylov basis in memory) or the
        three-term recurrence alone; see :func:`lanczos_quadrature`.
    space : VectorSpace, optional
        Where the vectors live, where ``operator.matmat`` takes them; default:
        the device of ``operator.degrees`` (:class:`LocalVectors`).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.operators import dense_operator
    >>> from skdse._engine.slq import slq_spectrum
    >>> op = dense_operator(np.random.default_rng(0).normal(size=(200, 3)), 1.0, np.float64)
    >>> rule = slq_spectrum(op, n_steps=10, n_probes=4, n_deflate=2,
    ...                     rng=np.random.default_rng(0))
    >>> rule.probe_nodes.shape, rule.n_matvecs
    ((4, 10), 12)
    """
    if space is None:
        space = LocalVectors(operator.xp, device(operator.degrees))
    xp, n = space.xp, operator.n
    v = xp.sqrt(xp.astype(space.vector(operator.degrees), xp.float64))
    v = space.keep(v / xp.linalg.vector_norm(v))
    matvecs = 0
    r = max(0, min(n_deflate, n - 2))
    Q = None
    if r > 0:
        Y = _project_out(space.random(rng, "normal", (n, r)), v)
        for _ in range(N_POWER):
            Y, _ = xp.linalg.qr(Y)
            Y = space.keep(_project_out(operator.matmat(Y), v))
            matvecs += 1
        Q, _ = xp.linalg.qr(Y)
        Q, _ = xp.linalg.qr(_project_out(Q, v))
        Q = space.keep(Q)
        del Y
    probes = _project_out(space.random(rng, "rademacher", (n, n_probes)), v, Q)
    starts = space.keep(probes if Q is None else xp.concat([Q, probes], axis=1))
    del probes, Q
    nodes, weights = lanczos_quadrature(
        operator.matmat, starts, n_steps, v, space, verbose, reorthogonalize
    )
    matvecs += n_steps
    # ||u||^2 turns each rule into u^T f(A') u.
    (squares,) = space.host(xp.sum(starts * starts, axis=0))
    weights = weights * squares[:, None]
    return QuadratureSpectrum(
        n=n,
        fixed_nodes=nodes[:r],
        fixed_weights=weights[:r],
        probe_nodes=nodes[r:],
        probe_weights=weights[r:],
        n_matvecs=matvecs,
    )
