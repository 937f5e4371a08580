"""Running one real crawl, matching and indexing off, and reading back its items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from crawlers.runner import crawl_environment
from tests.conftest import ROOT, write_source


def crawl_items(
    tmp: Path,
    kind: str,
    base_url: str,
    options: dict[str, Any],
    source_id: str = "golden",
    env: dict[str, str] | None = None,
    **source: Any,
) -> list[dict[str, Any]]:
    """Needs the test database to exist (request django_db_setup in the calling fixture)."""
    sources = tmp / "sources"
    sources.mkdir(exist_ok=True)
    write_source(sources, source_id, base_url, kind=kind, options=options, **source)
    out = tmp / f"{source_id}.jsonl"
    child_env = crawl_environment() | {"BODYGUARD_SOURCES_DIR": str(sources)} | (env or {})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            kind,
            "-a",
            f"source={source_id}",
            "-O",
            f"{out}:jsonlines",
            "-s",
            "BODYGUARD_MATCH_NAMES=0",
            "-s",
            "BODYGUARD_INDEX_HITS=0",
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_ENABLED=0",
            "-s",
            "BODYGUARD_ONLY_HOSTS=127.0.0.1,localhost",
        ],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
