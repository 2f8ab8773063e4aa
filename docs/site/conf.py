"""Sphinx configuration of the course site (`make site`; docs/site/build.py copies it next to
the executed notebooks and runs sphinx-build there)."""

project = "The Neural Tangent Kernel, interactively"
author = "The NTK course authors"
copyright = "2026, The NTK course authors"

extensions = [
    "myst_nb",  # notebooks and MyST Markdown
    "sphinx-mathjax-offline",  # MathJax served with the site, not from a CDN
]
# build.py executed the notebooks already (once, cached): render their outputs as they are.
nb_execution_mode = "off"
nb_output_stderr = "remove"  # library warnings and progress bars are not course content
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "The NTK, interactively"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
# Light unless the reader picks dark (without a default the theme logs a console error).
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": "https://github.com/ntk-course/ntk-course",
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    # The rocket button: this page's notebook, opened in JupyterLab on mybinder.org.
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
}


def add_plotly_where_figures_are(app, pagename, templatename, context, doctree):
    """plotly.js once on each page that has a figure (every figure there draws with it, and the
    browser caches it across pages), served with the site, so figures draw offline."""
    if "plotly-graph-div" in context.get("body", ""):
        app.add_js_file("plotly.min.js")


def setup(app):
    app.connect("html-page-context", add_plotly_where_figures_are)
