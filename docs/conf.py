"""Sphinx configuration: API reference from the docstrings, the theory pages, and tutorials that are
MyST Markdown notebooks executed at every build (a failing cell or any warning fails the build with -W).

Build: pip install '.[docs,torch]' && sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import gatetheory  # noqa: E402

project = "gatetheory"
author = "gatetheory developers"
copyright = "gatetheory developers"
release = version = gatetheory.__version__

extensions = [
    "myst_nb",                      # Markdown pages and executed MyST notebooks (myst-parser included)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosectionlabel",  # every theory heading is a target: docstring citations link to it
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "plain_docstrings",             # docstrings are plain text: shown as such, citations made links
]

exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# MyST: $...$ and $$...$$ math (derivations), heading anchors for [](#...) links
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
myst_dmath_double_inline = True    # consecutive $$ ... $$ lines (rendered derivations) as display math

# Labels '<document>:<heading>' (theory:3. Jacobian spectrum: ...). The reference digests repeat
# headings such as 'Claims [R]' in several sections; those duplicates are not cited by number.
autosectionlabel_prefix_document = True
suppress_warnings = ["autosectionlabel.*"]

# Notebooks: always executed; an erroring cell, or anything a cell writes to stderr (a warning),
# fails the build
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_execution_in_temp = True       # files a tutorial writes stay out of the source tree
nb_output_stderr = "warn"
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs (derivations, models) with their $ math

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
autodoc_mock_imports = []

html_theme = "furo"
html_title = f"gatetheory {release}"
html_static_path = []


# What the executed tutorials must show (issue 19): the rendered derivation and the results' own
# displays, checked in the built pages so a display that silently fell back to plain text fails the build
SHOWN = {"tutorials/new_cell.html": ["Derivation for cell", "Static mean field", "Jacobian as a linear pencil",
                                     "Mean field of update_gated", "Spectrum of update_gated",
                                     "data:image/png;base64,", "Theory | sampled networks"],
         "tutorials/complexity_dynamics.html": ["Fixed-point complexity of gru", "Dynamic mean field of vanilla"]}


def _check_shown(app, exception):
    if exception is not None or app.builder.name != "html" or app.config.nb_execution_mode == "off":
        return                           # (a quick build without executing the notebooks shows no outputs)
    for page, markers in SHOWN.items():
        text = (Path(app.outdir) / page).read_text()
        missing = [m for m in markers if m not in text]
        if missing:
            raise RuntimeError(f"{page} does not show {missing}: a tutorial's rich display is missing")


def setup(app):
    # MathJax on every page: notebook outputs (result tables) carry math that Sphinx does not see
    app.set_html_assets_policy("always")
    app.connect("build-finished", _check_shown)
