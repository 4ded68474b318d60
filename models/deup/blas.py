"""One BLAS thread while the small linear algebra of this family runs.

jaxlib's CPU LAPACK kernels (Cholesky, triangular solves) call the OpenBLAS bundled with
SciPy. For matrices of 32 rows and more OpenBLAS starts its worker threads, and on a busy
machine each such call waited ~16 ms for them (a 40 x 40 triangular solve: 16 ms against
0.03 ms single-threaded, measured on 2 shared cores). DEUP's GPs are small and called
thousands of times per run, so its programs run inside :func:`single_blas_thread`
(``threadpoolctl``, a scikit-learn dependency; the previous limit is restored on exit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_blas_thread"]


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit the loaded BLAS libraries to one thread inside the ``with`` block."""
    import scipy.linalg  # noqa: F401  (loads the OpenBLAS that jaxlib's LAPACK kernels use)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
