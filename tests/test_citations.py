"""Every document that the package, the validation scripts and the README cite is in the repository,
and every cited section or anchor exists in it (docs/theory.md sec. 3, docs/reference/anchors.md B3)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SOURCES = sorted([*(REPO / "gatetheory").rglob("*.py"), *(REPO / "gatetheory").rglob("*.toml"),
                  *(REPO / "validation").rglob("*.py"), REPO / "README.md"])
THEORY_PAGES = sorted((DOCS / "reference").glob("*.md")) + [DOCS / "theory.md", DOCS / "design.md"]
# where a cited name is looked up: the docs (theory.md, reference/anchors.md), the repository root
# (validation/results/report.md), the validation results (files a script writes and names), the citing file's folder
BASES = (DOCS, REPO, REPO / "validation" / "results")

LABEL = r"[A-Z]\d+|\d+(?:\.\d+)*(?:-\d+(?:\.\d+)*)?"
CITATION = re.compile(rf"(?<![\w/.{{}}<>\[\]*-])([\w-][\w./-]*\.md)\b(?:,?\s+(?:(?:secs?|sections?)\.?\s+)?({LABEL})\b)?")
BARE_SECTION = re.compile(r"\b(?:secs?|sections?)\.?\s+\d")
BARE_ANCHOR = re.compile(r"\banchors\s+[A-Z]\d")


def _text(path):
    """The file's text with line breaks (and comment markers after them) folded into spaces, so a
    citation broken over two lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", path.read_text())


def _resolve(name, source):
    for base in (*BASES, source.parent):
        if (base / name).is_file():
            return base / name
    return None


def _heading_labels(document):
    """Section numbers and anchor labels of a Markdown document's headings: '## 3. Jacobian' -> 3,
    '### 5.2 Kac-Rice' -> 5.2, '### B3. Noise-driven' -> B3 (any capital letter)."""
    labels = set()
    for line in document.read_text().splitlines():
        m = re.match(r"#+\s+([A-Z]?\d+(?:\.\d+)*)\.?\s", line)
        if m:
            labels.add(m.group(1))
    return labels


def citations(sources=SOURCES):
    """(source, cited name, section label or None) for every .md name in the sources."""
    out = []
    for path in sources:
        for m in CITATION.finditer(_text(path)):
            out.append((path, m.group(1), m.group(2)))
    return out


def test_sources_cite_documents():
    names = {name for _, name, _ in citations()}
    assert {"theory.md", "design.md", "reference/anchors.md"} <= names     # the scan sees the citations


def test_every_cited_document_exists():
    """Cited by the code, the scripts, the README, or by one theory page of another."""
    missing = sorted({f"{path.relative_to(REPO)}: {name}" for path, name, _ in citations(SOURCES + THEORY_PAGES)
                      if _resolve(name, path) is None})
    assert not missing, "cited documents not in the repository:\n" + "\n".join(missing)


def test_every_cited_section_exists():
    missing = []
    for path, name, label in citations():
        document = _resolve(name, path)
        if label is None or document is None or document.suffix != ".md":
            continue
        known = _heading_labels(document)
        for part in label.split("-"):
            if part not in known:
                missing.append(f"{path.relative_to(REPO)}: {name} {label} (no heading {part!r})")
    assert not missing, "cited sections not found:\n" + "\n".join(sorted(set(missing)))


def test_sections_name_their_document():
    """'sec. 3' or 'anchors C1' alone does not say which document: cite 'theory.md sec. 3'."""
    bare = []
    for path in SOURCES:
        text = _text(path)
        for pattern in (BARE_SECTION, BARE_ANCHOR):
            for m in pattern.finditer(text):
                before = text[max(0, m.start() - 40):m.start()]
                if not re.search(r"\.md,?\s*$", before):
                    bare.append(f"{path.relative_to(REPO)}: ...{text[max(0, m.start() - 30):m.end() + 10]}...")
    assert not bare, "section citations without a document:\n" + "\n".join(bare)
