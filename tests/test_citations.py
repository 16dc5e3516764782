"""Every document that the package, the validation scripts and the README cite is in the repository,
and every cited section or anchor exists in it (theory.md sec. 3 is docs/theory.md's heading
'## 3. ...', reference/anchors.md B3 is docs/reference/anchors.md's '### B3. ...'). The grammar is
docs/_ext/citations.py's, which the documentation site uses to link the citations."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs" / "_ext"))
from citations import CITATION, DOCS, headings, resolve  # noqa: E402

SOURCES = sorted([*(REPO / "gatetheory").rglob("*.py"), *(REPO / "gatetheory").rglob("*.toml"),
                  *(REPO / "validation").rglob("*.py"), REPO / "README.md"])
THEORY_PAGES = sorted((DOCS / "reference").glob("*.md")) + [DOCS / "theory.md", DOCS / "design.md"]
BARE_SECTION = re.compile(r"\b(?:secs?|sections?)\.?\s+\d")
BARE_ANCHOR = re.compile(r"\banchors\s+[A-Z]\d")


def _text(path):
    """The file's text with line breaks (and comment markers after them) folded into spaces, so a
    citation broken over two lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", path.read_text())


def citations(sources=SOURCES):
    """(source, cited name, section label or None) for every .md name in the sources."""
    return [(path, m.group(1), m.group(3)) for path in sources for m in CITATION.finditer(_text(path))]


def test_sources_cite_documents():
    names = {name for _, name, _ in citations()}
    assert {"theory.md", "design.md", "reference/anchors.md"} <= names     # the scan sees the citations


def test_every_cited_document_exists():
    """Cited by the code, the scripts, the README, or by one theory page of another."""
    missing = sorted({f"{path.relative_to(REPO)}: {name}" for path, name, _ in citations(SOURCES + THEORY_PAGES)
                      if resolve(name, path) is None})
    assert not missing, "cited documents not in the repository:\n" + "\n".join(missing)


def test_every_cited_section_exists():
    missing = []
    for path, name, label in citations():
        document = resolve(name, path)
        if label is None or document is None:
            continue
        known = headings(document)
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
                if not re.search(r"\.md,?\s*$", text[max(0, m.start() - 40):m.start()]):
                    bare.append(f"{path.relative_to(REPO)}: ...{text[max(0, m.start() - 30):m.end() + 10]}...")
    assert not bare, "section citations without a document:\n" + "\n".join(bare)
