"""Lesson: the study told top to bottom, one section per step, each a chart of a shipped
result, the sentences engine.lesson computes from it, and a link that opens the Explorer
or Compare with the settings that made it. Nothing trains here.

The charts are pictures drawn once per process on the server (ui.lesson, ui.pictures): the
page is read, not explored, and nine Vega-Lite charts compiled and drawn in the browser
took about half of its time to screen. Each is drawn twice, 820 px wide for a desktop
column and 350 px for a phone, and the page's style shows the phone's below a 700 px window
(in a column narrower than 820 px the wide one is scaled down to fit)."""
import streamlit as st

from engine.errors import FileFormatError
from engine.paths import checkpoint_dir
from engine.text import plain
from ui import lesson

PAGES = {"explorer": "pages/explorer.py", "compare": "pages/compare.py"}
PHONE = 700  # px: below this window width the narrow drawing (ui.lesson.NARROW) is shown
SIZES = ("<style>div[class*='st-key-narrow-'] { display: none; }"
         f"@media (max-width: {PHONE}px) {{ div[class*='st-key-wide-'] {{ display: none; }}"
         " div[class*='st-key-narrow-'] { display: flex; } }</style>")


st.title("Lesson: what pruning does to a network")
st.caption("Scroll down. Each chart is a result shipped with the app (nothing trains here) and "
           "each sentence under it is computed from that result. \"Try it yourself\" opens the "
           "run behind it, with its settings in the address and its charts to explore.")
st.html(SIZES)

try:
    shipped = lesson.drawn_sections()
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

lesson.install_linked_presets(str(checkpoint_dir()))
