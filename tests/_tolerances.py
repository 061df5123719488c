"""The reproducibility tolerances, in bits, shared by every test that compares
results computed in different processes, thread counts, n_jobs or dtypes.

The promise they encode is stated in docs/user_guide.rst ("Reproducibility");
tests/test_reproducibility.py explains each number from the arithmetic.
"""

#: exact solver, float64: a different BLAS/LAPACK summation order moves each
#: eigenvalue by ~ N eps ||A|| (~1e-13 at N = 1000); measured <= 6e-15 bits.
EXACT_TOL = 1e-10
#: slq: float32 operator products summed in another order (~ sqrt(N) eps32
#: relative per product) carried through the Lanczos recurrences; measured
#: <= 3e-6 bits at N = 2000.
SLQ_TOL = 1e-4
#: dtype="float32" against float64, exact solver on ordinary data; measured
#: 1e-9 to 2e-7 bits.
F32_TOL = 1e-5
