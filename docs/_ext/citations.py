"""The citation grammar shared by tests/test_citations.py and the docs build: a document name ending
in .md, optionally followed by a section number or anchor label ('theory.md sec. 3',
'reference/gated-continuous.md sec. 5.2', 'reference/anchors.md B3', 'theory.md secs. 2-5')."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
# where a cited name is looked up: the docs (theory.md, reference/anchors.md), the repository root
# (validation/results/report.md), the validation results (files a script writes and names)
BASES = (DOCS, REPO, REPO / "validation" / "results")

LABEL = r"[A-Z]\d+|\d+(?:\.\d+)*(?:-\d+(?:\.\d+)*)?"
CITATION = re.compile(rf"(?<![\w/.{{}}<>\[\]*-])([\w-][\w./-]*\.md)\b"
                      rf"(?:(,?\s+(?:(?:secs?|sections?)\.?\s+)?)({LABEL})\b)?")
HEADING = re.compile(r"#+\s+(([A-Z]?\d+(?:\.\d+)*)\.?\s.*?)\s*$")


def resolve(name, source=None):
    """The file a cited name refers to, or None."""
    for base in (*BASES, *((source.parent,) if source else ())):
        if (base / name).is_file():
            return base / name
    return None


def headings(document):
    """{section number or anchor label: heading text} of a Markdown document: '## 3. Jacobian' ->
    {'3': '3. Jacobian'}, '### 5.2 Kac-Rice' -> {'5.2': ...}, '### B3. Noise-driven' -> {'B3': ...}."""
    out = {}
    for line in Path(document).read_text().splitlines():
        m = HEADING.match(line)
        if m:
            out.setdefault(m.group(2), m.group(1))
    return out
