"""The documentation site covers the package: every module of gatetheory/ has an automodule entry in
docs/api/ (the site itself is built, with its notebooks executed, by .ci/run after the tests)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules():
    out = set()
    for path in (REPO / "gatetheory").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(p.startswith("_") for p in parts) and len(parts) > 1:
            out.add(".".join(parts))
    return out


def test_every_module_is_in_the_api_reference():
    documented = {m for page in (REPO / "docs" / "api").glob("*.md")
                  for m in re.findall(r"\.\. automodule:: (\S+)", page.read_text())}
    missing = sorted(_modules() - documented - {"gatetheory.styles"})
    assert not missing, f"modules missing from docs/api/*.md: {missing}"
    assert not documented - _modules(), f"docs/api names modules that do not exist: {sorted(documented - _modules())}"
