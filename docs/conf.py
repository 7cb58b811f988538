"""Sphinx configuration for the amlab documentation."""

from __future__ import annotations

import amlab

project = "amlab"
author = "the amlab developers"
release = amlab.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
nitpicky = False
html_theme = "furo"
html_title = "amlab"
exclude_patterns = ["_build"]
suppress_warnings = ["autosummary"]
