"""One BLAS thread around the engine's theory computations: they are many small matrix products,
on which a multi-threaded BLAS costs 5-10x more time than it saves (and oversubscribes the cores
when sweeps already run one process per core)."""

import threading
from functools import wraps

from threadpoolctl import threadpool_limits

_state = threading.local()


def single_blas_thread(fn):
    """Run fn with the BLAS thread pools limited to one thread (restored afterwards); nested calls
    reuse the outer limit instead of re-scanning the loaded libraries."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_state, "limited", False):
            return fn(*args, **kwargs)
        with threadpool_limits(limits=1, user_api="blas"):
            _state.limited = True
            try:
                return fn(*args, **kwargs)
            finally:
                _state.limited = False
    return wrapper
