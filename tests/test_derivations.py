"""The committed derivations/ are what the current code derives (regenerate: python -m gatetheory.derive.publish)."""

from pathlib import Path

import pytest

from gatetheory.derive.publish import rendered

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


@pytest.mark.parametrize("name, text", sorted(rendered().items()))
def test_derivation_is_current(name, text):
    path = DERIVATIONS / name
    assert path.exists(), f"{path} missing: run python -m gatetheory.derive.publish"
    assert path.read_text() == text, f"{path} is stale: run python -m gatetheory.derive.publish"
