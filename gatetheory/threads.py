"""One BLAS thread around the engine's theory computations: they are many small matrix products,
on which a multi-threaded BLAS costs 5-10x more time than it saves (and oversubscribes the cores
when sweeps already run one process per core)."""

from functools import wraps

from threadpoolctl import threadpool_limits


def single_blas_thread(fn):
    """Run fn with the BLAS thread pools limited to one thread (restored afterwards)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper
