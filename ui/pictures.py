"""Vega-Lite charts drawn on the server as SVG or PNG pictures by vl_convert (no browser,
no network), in a short-lived child process: vl_convert's JavaScript runtime takes about
120 MB, which the server, shared by a class, would otherwise keep for good after its first
picture. One child draws a whole batch (about 0.5 s to start it, then 25–100 ms a chart)."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

TIMEOUT_SECONDS = 120
CHILD = """
import base64, json, sys
import vl_convert
job = json.load(sys.stdin)
drawn = [base64.b64encode(vl_convert.vegalite_to_png(spec, scale=job["scale"])).decode()
         if job["format"] == "png" else vl_convert.vegalite_to_svg(spec) for spec in job["specs"]]
json.dump(drawn, sys.stdout)
"""
# -P (Python 3.11+): the working folder is not put on the child's import path
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else ["-I"]

_GEOMETRY = re.compile(r' (d|transform|points)="([^"]*)"')
_LONG_DECIMAL = re.compile(r"(\d\.\d)\d+")


def _rounded(match: re.Match) -> str:
    numbers = _LONG_DECIMAL.sub(r"\1", match[2])
    return f' {match[1]}="{numbers}"'


def compact(svg: str) -> str:
    """Shapes' coordinates with one decimal (under 0.1 px off: a third smaller, the same
    picture); text is left as drawn."""
    return _GEOMETRY.sub(_rounded, svg)


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)  # numpy scalars, dates


def draw(specs: list[dict], kind: str = "svg", scale: float = 1) -> list:
    """Each self-contained Vega-Lite spec (data inline) as an SVG text (``kind`` "svg") or
    PNG bytes ("png", ``scale`` × its size). Raises RuntimeError, with the child's last
    line, when they cannot be drawn."""
    if kind not in ("svg", "png"):
        raise ValueError(f"kind must be 'svg' or 'png', got {kind!r}")
    if not specs:
        return []
    job = json.dumps({"specs": specs, "format": kind, "scale": scale}, default=_plain)
    try:
        done = subprocess.run([sys.executable, *SAFE_PATH, "-c", CHILD], input=job, capture_output=True,
                              text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"drawing {len(specs)} chart(s) took over {TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the charts could not be drawn: {last[:300]}")
    drawn = json.loads(done.stdout)
    return [base64.b64decode(png) for png in drawn] if kind == "png" else [compact(svg) for svg in drawn]
