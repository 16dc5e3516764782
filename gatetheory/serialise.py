"""JSON-ready values from results holding NumPy scalars and arrays; strict JSON for the command line."""

import json
import math

import numpy as np

from .errors import NonFiniteError


def jsonable(obj):
    """Dicts, lists and NumPy containers as plain Python values; non-finite floats as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, np.integer)):
        return obj.item()
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(obj) else float(obj)
    return obj


def first_non_finite(obj, path=""):
    """Dotted path and value of the first NaN or infinite number in nested dicts, lists and arrays, or None."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fc" or np.all(np.isfinite(obj)):
            return None
        index = np.argwhere(~np.isfinite(obj))[0]
        return f"{path}[{','.join(map(str, index))}]", obj[tuple(index)]
    elif isinstance(obj, (float, np.floating)):
        return None if math.isfinite(obj) else (path, obj)
    else:
        return None
    for key, value in items:
        found = first_non_finite(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def require_finite(result, what, nullable=()):
    """`result` (a dict) unchanged if every number in it is finite, else a NonFiniteError naming the
    field; top-level keys in `nullable` are documented as possibly NaN or infinite (written as null)."""
    found = first_non_finite({k: v for k, v in result.items() if k not in nullable})
    if found is not None:
        path, value = found
        raise NonFiniteError(f"{what}: {path} is {value} (not a finite number)")
    return result


def strict_json(result, what, nullable=()):
    """JSON text of a result dict for the command line: every number finite (NonFiniteError naming the
    field otherwise, except `nullable` keys, written as null), no NaN or Infinity tokens."""
    return json.dumps(jsonable(require_finite(result, what, nullable)), indent=2, allow_nan=False)
