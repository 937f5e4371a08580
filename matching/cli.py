"""Command line for staff: ``python -m matching names scan`` and ``python -m matching photos match``.

The library is pure; reading files and printing JSON lines happen here only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from matching.html import html_to_text
from matching.names import NameMatcher, WatchEntry

_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class WatchListError(ValueError):
    pass


def parse_watchlist(data: Any, origin: str = "watch list") -> list[WatchEntry]:
    if not isinstance(data, dict) or not isinstance(data.get("clients"), list):
        raise WatchListError(f"{origin}: expected a top-level 'clients' list")
    entries = []
    for n, client in enumerate(data["clients"], start=1):
        if not isinstance(client, dict) or not client.get("id"):
            raise WatchListError(f"{origin}: client #{n} needs an 'id'")

        def strings(key: str, client: dict[str, Any] = client, n: int = n) -> tuple[str, ...]:
            value = client.get(key) or []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise WatchListError(
                    f"{origin}: client #{n} ({client['id']}): '{key}' must be a list of text"
                )
            return tuple(value)

        entries.append(
            WatchEntry(
                client_id=str(client["id"]),
                names=strings("names"),
                aliases=strings("aliases") + strings("nicknames"),
                required_context=strings("required_context"),
                excluded_context=strings("excluded_context"),
            )
        )
    return entries


def _read_text(path: Path) -> str:
    raw = path.read_bytes().decode("utf-8-sig", errors="replace")
    if path.suffix.lower() in _HTML_SUFFIXES or raw.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html")
    ):
        return html_to_text(raw)
    return raw


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def scan_names(watchlist: Path, files: Sequence[str], out: TextIO) -> int:
    try:
        entries = parse_watchlist(
            yaml.safe_load(watchlist.read_text(encoding="utf-8")), str(watchlist)
        )
    except (OSError, yaml.YAMLError) as exc:
        raise WatchListError(f"{watchlist}: {exc}") from None
    matcher = NameMatcher(entries)
    status = 0
    for path in _files(files):
        try:
            text = _read_text(path)
        except OSError as exc:
            print(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False), file=out)
            status = 1
            continue
        for m in matcher.scan(text):
            record = {
                "file": str(path),
                "client": m.client_id,
                "start": m.start,
                "end": m.end,
                "text": m.text,
                "term": m.term,
                "rule": m.rule,
                "score": m.score,
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matching")
    areas = parser.add_subparsers(dest="area", required=True)
    names = areas.add_parser("names").add_subparsers(dest="command", required=True)
    scan = names.add_parser(
        "scan", help="print the watched names found in files, one JSON object per line"
    )
    scan.add_argument("--watchlist", required=True, type=Path)
    scan.add_argument("files", nargs="+")
    photos = areas.add_parser("photos").add_subparsers(dest="command", required=True)
    match = photos.add_parser("match", help="match candidate images against registered photos")
    match.add_argument("registered", type=Path)
    match.add_argument("candidates", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.area == "names":
            return scan_names(args.watchlist, args.files, sys.stdout)
        from matching.photo_cli import match_photos

        return match_photos(args.registered, args.candidates, sys.stdout)
    except WatchListError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
