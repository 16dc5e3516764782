"""One BLAS thread around the engine's theory computations: they are many small matrix products,
on which a multi-threaded BLAS costs 5-10x more time than it saves (and oversubscribes the cores
when sweeps already run one process per core)."""

import threading
from functools import wraps

from threadpoolctl import ThreadpoolController

_state = threading.local()
_controller = []            # one ThreadpoolController per process: building it scans the loaded libraries (~2 ms)


def _blas():
    """The process's thread-pool controller, made on first use (numpy and scipy's BLAS are loaded by then)."""
    if not _controller:
        _controller.append(ThreadpoolController())
    return _controller[0]


def single_blas_thread(fn):
    """Run fn with the BLAS thread pools limited to one thread (restored afterwards); the libraries are
    scanned once per process and nested calls reuse the outer limit."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_state, "limited", False):
            return fn(*args, **kwargs)
        with _blas().limit(limits=1, user_api="blas"):
            _state.limited = True
            try:
                return fn(*args, **kwargs)
            finally:
                _state.limited = False
    return wrapper
