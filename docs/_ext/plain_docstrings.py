"""Sphinx extension: gatetheory's docstrings are plain text, not reStructuredText. Each docstring is
shown line for line (reST line blocks, so no character of it is read as markup; literal blocks after
'::' stay literal) and its citations of the theory pages become links to the cited section."""

import re

from citations import CITATION, DOCS, headings, resolve

LITERAL = re.compile(r"``.+?``|`[^`\s][^`]*`")     # ``code`` or `code`: shown as code
SPECIAL = re.compile(r"([\\*_|`<>\[\]:])")


def _escape(text):
    return SPECIAL.sub(r"\\\1", text)


def _reference(name, label, source_text):
    """A :ref: to the cited section of a theory page (a :doc: link without a section); None when the
    name is not a page of the docs (a results file)."""
    document = resolve(name)
    if document is None or DOCS not in document.parents:
        return None
    page = document.relative_to(DOCS).with_suffix("").as_posix()
    text = source_text.replace("<", "").replace(">", "").replace("`", "")
    if label is None:
        return f":doc:`{text} </{page}>`"
    first = label.split("-")[0]
    title = headings(document).get(first)
    if title is None:              # an unknown section: name it anyway, so the build warns
        title = f"{first} (no such section)"
    return f":ref:`{text} <{page}:{title}>`"


def _inline(text):
    """Escape a line's text, keep `code` as literals and turn citations into links."""
    out, last = [], 0
    spans = [(m.start(), m.end(), "code", m) for m in LITERAL.finditer(text)]
    spans += [(m.start(), m.end(), "cite", m) for m in CITATION.finditer(text)
              if not any(s <= m.start() < e for s, e, _, _ in spans)]
    for start, end, kind, m in sorted(spans, key=lambda s: s[0]):
        if start < last:
            continue
        out.append(_escape(text[last:start]))
        if kind == "code":
            out.append("``" + m.group(0).strip("`") + "``")
        else:
            link = _reference(m.group(1), m.group(3), m.group(0))
            out.append(link if link else _escape(m.group(0)))
        last = end
    out.append(_escape(text[last:]))
    return "".join(out)


ITEM = re.compile(r"^(?:[-*+] |\d+[.)] |[A-Za-z_][\w.]*(?:, \w+)*: )")   # a list item or 'name: ...' line


def _reflow(lines):
    """Join hard-wrapped prose: a line continues the one before at the same indentation unless it
    starts an item ('- x', '1. x', 'name: x') or follows a blank line or a '::' line."""
    out, literal = [], None          # literal: indentation of the '::' line whose block this is
    for line in lines:
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if literal is not None and (not stripped or depth > literal):
            out.append(line)
            continue
        literal = depth if stripped.endswith("::") else None
        previous = out[-1] if out else ""
        if stripped and previous.strip() and not previous.rstrip().endswith("::") and not ITEM.match(stripped) \
                and depth == len(previous) - len(previous.lstrip()):
            out[-1] = previous.rstrip() + " " + stripped
        else:
            out.append(line)
    return out


def plain(lines):
    """Docstring lines -> reST: prose reflowed, every paragraph or item a line-block line (indentation
    kept), '::' blocks literal."""
    out, literal, indent = [], False, 0
    for line in _reflow(lines):
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if literal and (not stripped or depth > indent):
            out.append(line)
            continue
        literal = False
        if not stripped:
            out.append("")
            continue
        if stripped.endswith("::"):
            out += [f"| {' ' * depth}{_inline(stripped[:-2].rstrip())}" + ":", "", "::", ""]
            literal, indent = True, depth
            continue
        out.append(f"| {' ' * depth}{_inline(stripped)}")
    return out


def _process(app, what, name, obj, options, lines):
    lines[:] = plain(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
