"""The staff command line, run as staff run it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

WATCHLIST = """
clients:
  - id: jeanne-dupont
    names: ["Jeanne Dupont"]
    aliases: ["jdupont75"]
    required_context: []
    excluded_context: []
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_names_scan_prints_one_json_object_per_mention_with_offsets_into_the_text(tmp_path):
    (tmp_path / "w.yaml").write_text(WATCHLIST, encoding="utf-8")
    post = tmp_path / "post.txt"
    text = "Encore elle : J3anne D*pont.\nSon compte : @jdupont75"
    post.write_text(text, encoding="utf-8")
    html = tmp_path / "page.html"
    html.write_text(
        "<html><body><p>Bonjour</p><script>x='Jeanne Dupont'</script><p>DUPONT J.</p></body></html>",
        encoding="utf-8",
    )

    result = _run("names", "scan", "--watchlist", str(tmp_path / "w.yaml"), str(post), str(html))

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["file"], r["text"], r["rule"]) for r in rows] == [
        (str(post), "J3anne D*pont", "masked"),
        (str(post), "jdupont75", "alias"),
        (str(html), "DUPONT J", "initial"),
    ]
    for r in rows[:2]:
        assert text[r["start"] : r["end"]] == r["text"]
        assert r["client"] == "jeanne-dupont" and r["term"] in ("Jeanne Dupont", "jdupont75")
        assert isinstance(r["score"], float)


def test_names_scan_reports_a_bad_watch_list(tmp_path):
    (tmp_path / "w.yaml").write_text("clients:\n  - names: [x]\n", encoding="utf-8")
    result = _run(
        "names", "scan", "--watchlist", str(tmp_path / "w.yaml"), str(tmp_path / "w.yaml")
    )
    assert result.returncode == 2
    assert "needs an 'id'" in result.stderr


def test_photos_match_reports_each_candidate_and_goes_on_after_a_bad_one(tmp_path):
    registered = tmp_path / "registered"
    registered.mkdir()
    shutil.copy(DATA / "photos" / "opencv_baboon.jpg", registered)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes((DATA / "photos" / "opencv_messi5.jpg").read_bytes()[:4000])

    result = _run(
        "photos", "match", str(registered),
        str(DATA / "photos" / "opencv_baboon.jpg"), str(bad), str(DATA / "photos" / "opencv_messi5.jpg"),
    )  # fmt: skip

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {
        "candidate": str(DATA / "photos" / "opencv_baboon.jpg"),
        "match": str(registered / "opencv_baboon.jpg"),
        "distance": 0,
        "tier": "strong",
        "method": "pdq",
        "why": "PDQ distance 0",
    }
    assert rows[1]["candidate"] == str(bad) and "truncated" in rows[1]["error"]
    assert rows[2] == {
        "candidate": str(DATA / "photos" / "opencv_messi5.jpg"),
        "match": None,
        "distance": None,
        "tier": None,
        "method": None,
        "why": None,
    }
