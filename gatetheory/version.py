"""The package version (one place: pyproject.toml reads it from here) and the versions recorded with
every result."""

import platform

__version__ = "0.1.0"


def versions():
    """Versions recorded with every result."""
    import mpmath
    import numpy
    import scipy
    import sympy
    return {"gatetheory": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "sympy": sympy.__version__, "mpmath": mpmath.__version__}
