"""The reproducibility tolerances, in bits, shared by every test that compares
results computed in different processes, thread counts, n_jobs or dtypes.

The promise they encode is stated in docs/user_guide.rst ("Reproducibility");
tests/test_reproducibility.py explains each number from the arithmetic.
"""

#: exact solver, float64: the eigensolver is backward stable, so a different
#: BLAS/LAPACK summation order (threads, blocking, alignment) moves each
#: eigenvalue of the normalised operator (norm 1) by ~ N eps (~1e-13 at
#: N = 600), and DSE (a sum of p log p, |d/dp| < 60 bits for p > 1e-16) by at
#: most ~ N * 60 * 1e-13 ~ 1e-9 in the worst case; measured <= 6e-15 bits.
EXACT_TOL = 1e-9
#: slq: float32 operator products summed in another order (~ sqrt(N) eps32
#: relative per product) carried through the Lanczos recurrences; measured
#: <= 3e-6 bits at N = 2000.
SLQ_TOL = 1e-4
#: dtype="float32" against float64, exact solver on ordinary data; measured
#: 1e-9 to 2e-7 bits.
F32_TOL = 1e-5
