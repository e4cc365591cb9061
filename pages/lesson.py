"""Lesson: the study told top to bottom, one section per step, each a chart of a shipped
result, the sentences engine.lesson computes from it, and a link that opens the Explorer
or Compare with the settings that made it. Nothing trains here."""
import streamlit as st

from engine import lesson, presets
from engine.errors import FileFormatError
from engine.text import plain
from engine.paths import checkpoint_dir
from ui import charts

PAGES = {"explorer": "pages/explorer.py", "compare": "pages/compare.py"}


@st.cache_resource(show_spinner=False)
def shipped_lesson() -> list[tuple[lesson.Section, list[dict]]]:
    """Every section with its charts' specs, built once per process: the results are
    shipped, and building a chart costs tens of milliseconds."""
    return [(section, section_charts(section)) for section in lesson.sections(lesson.load())]


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
           "run behind it, with its settings in the address.")

try:
    shipped = shipped_lesson()
except FileFormatError as exc:
    st.error(str(exc))
    st.stop()

for number, (section, specs) in enumerate(shipped, start=1):
    with st.container(key=f"lesson-{section.key}"):
        st.subheader(f"{number}. {section.title}", anchor=section.key)
        for spec in specs:  # a small square chart (the input pixels) keeps its own width
            st.vega_lite_chart(spec=spec, width="content" if spec.get("width") else "stretch")
        for sentence in section.sentences:
            st.text(sentence)  # computed from files: never rendered as markdown
        for note in section.notes:
            st.caption(plain(note))  # escaped: a command line must not become formatting
        st.page_link(PAGES[section.page], label=f"Try it yourself: {section.try_text}",
                     icon=":material/play_circle:", query_params=section.params)
    st.divider()

install_linked_presets(str(checkpoint_dir()))
