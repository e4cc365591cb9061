"""Lesson: the study told top to bottom, one section per step, each a chart of a shipped
result, the sentences engine.lesson computes from it, and a link that opens the Explorer
or Compare with the settings that made it. Nothing trains here.

The charts are pictures drawn once per process on the server (ui.pictures): the
page is read, not explored, and nine Vega-Lite charts compiled and drawn in the browser
took about half of its time to screen. Each is drawn twice, 820 px wide for a desktop
column and 350 px for a phone, and the page's style shows the phone's below a 700 px window
(in a column narrower than 820 px the wide one is scaled down to fit)."""
import streamlit as st

from engine import lesson, presets
from engine.errors import FileFormatError
from engine.text import plain
from engine.paths import checkpoint_dir
from ui import charts, pictures

PAGES = {"explorer": "pages/explorer.py", "compare": "pages/compare.py"}
WIDE, NARROW = 820, 350  # px: a picture's width in the page's column, and on a phone (390 px)
PHONE = 700  # px: below this window width the narrow drawing is shown
SIZES = ("<style>div[class*='st-key-narrow-'] { display: none; }"
         f"@media (max-width: {PHONE}px) {{ div[class*='st-key-wide-'] {{ display: none; }}"
         " div[class*='st-key-narrow-'] { display: flex; } }</style>")


@st.cache_resource(show_spinner=False)
def shipped_lesson() -> list[tuple[lesson.Section, list[tuple[str, str | None]]]]:
    """Every section with its charts as (wide, narrow) SVG pictures, narrow None for a chart
    with its own width. Drawn once per process, in one batch: the results are shipped."""
    sections = lesson.sections(lesson.load())
    sizes = [[(spec, (WIDE,) if spec.get("width") else (WIDE, NARROW)) for spec in section_charts(section)]
             for section in sections]
    drawn = iter(pictures.draw([charts.picture(spec, width) for group in sizes for spec, widths in group
                                for width in widths]))
    return [(section, [tuple(next(drawn) if width in widths else None for width in (WIDE, NARROW))
                       for _, widths in group])
            for section, group in zip(sections, sizes)]


@st.cache_resource(show_spinner=False)
def install_linked_presets(root: str) -> None:
    """The presets the links open are installed in the run cache (once per process and
    checkpoint folder), so a link shows the recorded result at once instead of an empty
    page with a Run button."""
    for name in dict.fromkeys(name for name, _ in lesson.LESSON_RUNS):
        presets.install(presets.get(name))


def section_charts(section: lesson.Section) -> list[dict]:
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


st.title("Lesson: what pruning does to a network")
st.caption("Scroll down. Each chart is a result shipped with the app (nothing trains here) and "
           "each sentence under it is computed from that result. \"Try it yourself\" opens the "
           "run behind it, with its settings in the address and its charts to explore.")
st.html(SIZES)

try:
    shipped = shipped_lesson()
except (FileFormatError, RuntimeError) as exc:  # a shipped file damaged; the charts not drawn
    st.error(plain(exc, 600))
    st.stop()

for number, (section, drawings) in enumerate(shipped, start=1):
    with st.container(key=f"lesson-{section.key}"):
        st.subheader(f"{number}. {section.title}", anchor=section.key)
        for index, (wide, narrow) in enumerate(drawings):
            words = f"Chart: {section.title}"
            if narrow is None:  # a small square chart (the input pixels): one size fits both
                st.image(wide, alt=words)
                continue
            with st.container(key=f"wide-{section.key}-{index}"):
                st.image(wide, alt=words)
            with st.container(key=f"narrow-{section.key}-{index}"):
                st.image(narrow, alt=words)
        for sentence in section.sentences:
            st.text(sentence)  # computed from files: never rendered as markdown
        for note in section.notes:
            st.caption(plain(note))  # escaped: a command line must not become formatting
        st.page_link(PAGES[section.page], label=f"Try it yourself: {section.try_text}",
                     icon=":material/play_circle:", query_params=section.params)
    st.divider()

install_linked_presets(str(checkpoint_dir()))
