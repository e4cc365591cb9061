"""The Lesson's sections with their charts drawn as pictures (ui.pictures), once per server
process and shared by every session, and the presets its links open installed in the run
cache. The drawing starts in the background once the server's warm-up is over
(``draw_in_background``), so the first visitor after a server start does not wait for it;
a visit before that waits for the drawing in progress instead of starting it twice. (The
presets are installed only when someone opens the Lesson: they add runs to the run folder.)
The heavy imports wait for the first call: app.py imports this on every page, Home included."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine import lesson

WIDE, NARROW = 820, 350  # px: a picture's width in a desktop column, and on a phone (390 px)

_lock = threading.Lock()
_drawn: list | None = None
_installed: set[str] = set()
_started = False


def section_charts(section: "lesson.Section") -> list[dict]:
    from ui import charts

    frames = section.frames
    if section.chart == "weights_left":
        return [charts.weights_left(frames["totals"])]
    if section.chart == "around_cut":
        return [charts.around_cut(frames["history"])]
    if section.chart == "accuracy":
        return [charts.metric_chart(frames["history"], "accuracy", height=300)]
    if section.chart == "accuracy_vs_sparsity":
        return [charts.sparsity_chart(frames["history"], height=300)]
    if section.chart == "layers":
        layers = frames["layers"]
        pixels = [charts.input_grid(frames["pixels"])] if "pixels" in frames else []
        return [charts.heatmap(layers, int(layers.cycle.max()))] + pixels
    if section.chart == "controls":
        return [charts.outcome_chart(frames["arms"])]
    if section.chart == "sizes":
        return [charts.form_sizes(frames["sizes"])]
    raise ValueError(f"no chart named {section.chart!r}")


def drawn_sections() -> list[tuple["lesson.Section", list[tuple[str, str | None]]]]:
    """Every section with its charts as (wide, narrow) SVG pictures, narrow None for a chart
    with its own width (the input-pixel grid). Drawn once per process, in one batch: the
    results are shipped. Raises FileFormatError (a damaged shipped file) or RuntimeError
    (the charts could not be drawn); the next call tries again."""
    from engine import lesson
    from ui import charts, pictures

    global _drawn
    with _lock:
        if _drawn is None:
            sections = lesson.sections(lesson.load())
            sizes = [[(spec, (WIDE,) if spec.get("width") else (WIDE, NARROW)) for spec in section_charts(section)]
                     for section in sections]
            drawn = iter(pictures.draw([charts.picture(spec, width) for group in sizes
                                        for spec, widths in group for width in widths]))
            _drawn = [(section, [tuple(next(drawn) if width in widths else None for width in (WIDE, NARROW))
                                 for _, widths in group])
                      for section, group in zip(sections, sizes)]
        return _drawn


def install_linked_presets(root: str) -> None:
    """The presets the links open, installed in the run cache of checkpoint folder ``root``
    (once per process and folder), so a link shows the recorded result at once instead of
    an empty page with a Run button."""
    from engine import lesson, presets

    with _lock:
        if root not in _installed:
            for name in dict.fromkeys(name for name, _ in lesson.LESSON_RUNS):
                presets.install(presets.get(name))
            _installed.add(root)


def forget() -> None:
    """Draw and install again at the next call (the shipped results changed: tests)."""
    global _drawn
    with _lock:
        _drawn = None
        _installed.clear()


def draw_in_background(after: threading.Thread | None) -> None:
    """Once per server process: when ``after`` (the server's warm-up) has ended, draw the
    pictures on a background thread. A failure is left for the page to report when it
    asks. Nothing outside a served app (AppTest, bare mode): it would only load a test."""
    from streamlit.runtime import Runtime

    global _started
    with _lock:
        if _started or not Runtime.exists():
            return
        _started = True

    def work():
        if after is not None:
            after.join()
        try:
            drawn_sections()
        except Exception:  # noqa: BLE001 - the page asks again and shows the one-line reason
            pass

    threading.Thread(target=work, daemon=True, name="lesson-pictures").start()
