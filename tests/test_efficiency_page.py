"""The Efficiency page through Streamlit's AppTest: empty state, a run's checkpoint,
latency behind the button, uploads (good and bad)."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.experiment import run

ROOT = Path(__file__).resolve().parents[1]


def open_page() -> AppTest:
    """Through app.py, as a user reaches it (its links name the app's other pages)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/efficiency.py")
    return at.run()


def text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    errors = [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value) for e in at.error]  # as shown
    return "\n".join(parts + errors)


@pytest.fixture
def finished_run(tiny_config):
    return Path(run(tiny_config.replace(cycles=1))["run_dir"])


def test_empty_state_points_to_the_cli():
    at = open_page()
    assert not at.exception
    assert "python -m engine run" in text(at)


def test_a_run_shows_sizes_agreement_and_explanation(finished_run):
    at = open_page()
    assert not at.exception, at.exception
    assert at.selectbox(key="checkpoint").value == "final.pt"
    sizes, agreement = at.dataframe[0].value, at.dataframe[1].value
    assert "sparse CSR, 32-bit indices" in set(sizes.form)
    assert sizes.bytes.iloc[0] == (finished_run / "final.pt").stat().st_size
    exact = agreement[agreement.form != "INT8 dynamic"]  # INT8 on a barely trained model may miss its rule
    assert len(exact) == 3 and exact.verified.all()
    assert "no speedup with dense kernels" in text(at)
    assert "Not measured yet" in text(at)
    at.button(key="measure").click().run()
    assert not at.exception, at.exception
    latency = at.dataframe[2].value
    assert set(latency.batch) == {1, 1024} and (latency.ms > 0).all()
    assert "2:4" in text(at)


def test_uploads_good_and_bad(finished_run):
    at = open_page()
    at.segmented_control(key="source").set_value("Upload a .pt file").run()
    assert "Upload a checkpoint" in text(at)
    at.file_uploader[0].set_value(("junk.pt", b"not a checkpoint", "application/octet-stream")).run()
    assert not at.exception
    assert "Cannot open junk.pt" in text(at)
    good = (finished_run / "best.pt").read_bytes()
    at.file_uploader[0].set_value(("best.pt", good, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value.bytes.iloc[0] == len(good)
