"""`thermodefect report RUN_DIR` run as a user would."""

import subprocess
import sys


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "thermodefect.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_report_command_writes_page_and_csvs(run_dir):
    r = run_cli("report", str(run_dir), cwd=run_dir.parent)
    assert r.returncode == 0, r.stderr
    index = run_dir / "report" / "index.html"
    assert index.is_file() and "data:image/png;base64," in index.read_text()
    assert (run_dir / "results" / "summary.csv").is_file() and (run_dir / "results" / "accuracy.csv").is_file()
    assert str(index) in r.stdout


def test_report_without_summary_exits_2(make_run):
    root = make_run(None)
    r = run_cli("report", str(root), cwd=root.parent)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0 and "summary.json" in r.stderr
    assert not (root / "report" / "index.html").exists()


def test_report_with_malformed_json_exits_2(make_run):
    root = make_run(None)
    (root / "results" / "summary.json").write_text('{"config": {}, "thermal": [')
    r = run_cli("report", str(root), cwd=root.parent)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0 and "malformed JSON" in r.stderr


def test_report_of_missing_directory_exits_2(tmp_path):
    r = run_cli("report", str(tmp_path / "no-such-run"), cwd=tmp_path)
    assert r.returncode == 2 and "not a directory" in r.stderr
