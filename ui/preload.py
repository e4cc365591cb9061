"""Start loading the browser's chart code with the page, not with its first chart.

Streamlit loads its Vega-Lite code (about 1.5 MB of JavaScript) lazily, when the first
chart of a page arrives, and a chart is drawn only once that code has been fetched and
run: on a page opened in a new tab the charts appeared 0.1-0.5 s after the script had
finished (docs/benchmarks.md, section 7). Importing the same modules from a script sent
first thing in the run overlaps that with the page's own script, and the chart's own
import later finds them loaded (the browser keeps one instance per URL)."""
from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

# Streamlit's chart element, and the two modules it imports when it draws its first chart.
CHART_MODULES = ("ArrowVegaLiteChart", "embed", "vega-interpreter")
MARKER = "preload-charts"  # the script's id: the CSS below hides the element holding it


@functools.cache
def chart_module_files() -> tuple[str, ...]:
    """The file names of CHART_MODULES in this Streamlit build (they carry a content hash),
    or none if the build lays them out differently: then the charts load as before."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    files = [sorted(folder.glob(f"{name}.*.js")) for name in CHART_MODULES]
    return tuple(found[0].name for found in files if len(found) == 1) if all(files) else ()


def preload_charts() -> None:
    """Send the import as the run's first element; it takes no room on the page."""
    files = chart_module_files()
    if not files:
        return
    imports = "".join(f'import("./static/js/{name}").catch(() => {{}});' for name in files)
    st.html(f'<style>[data-testid="stElementContainer"]:has(#{MARKER}) {{ display: none; }}</style>'
            f'<script id="{MARKER}">{imports}</script>', unsafe_allow_javascript=True)
