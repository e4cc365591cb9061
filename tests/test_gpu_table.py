"""benchmarks/gpu_table.py's dry run: every part runs at toy size on the CPU and the
table is written, so the script is known to work before a GPU machine is lent."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_runs_every_part_and_writes_the_table(tmp_path):
    out = tmp_path / "table"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_table.py"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "gpu_table.json").read_text())
    assert set(results) == {"machine", "throughput", "profile", "correctness", "study", "inference",
                            "app_run"}
    failed = {name: part.get("error") for name, part in results.items() if part["status"] != "ok"}
    assert not failed
    assert results["correctness"]["tests_exit_code"] == 0
    loops = {row[2] for row in results["throughput"]["tables"][0]["rows"]}
    assert "study-style loop (DataLoader + prune hooks)" in loops and "engine, all fast paths" in loops
    study = results["study"]["tables"][0]["rows"]
    assert [row[0] for row in study] == ["layerwise", "global"] and all(row[-1] == "yes" for row in study)
    forms = {row[2] for row in results["inference"]["tables"][0]["rows"]}
    assert {"dense", "structured-shrunk (half the neurons)", "INT8 (torch._int_mm)"} <= forms
    markdown = (out / "gpu_table.md").read_text()
    assert "## Training throughput" in markdown and "| layerwise |" in markdown


def test_an_unknown_part_is_refused_in_one_line(tmp_path):
    out = tmp_path / "table"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_table.py"), "--dry-run",
                           "--out", str(out), "--only", "machine,nonsense"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown part(s) ['nonsense']" in proc.stderr
