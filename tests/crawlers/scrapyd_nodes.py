"""Real Scrapyd nodes on local ports, for the crawl-worker tests and the bench.

Each node runs in its own folder with its own ``scrapyd.conf`` (as deploy/scrapyd.conf, with a
short poll interval) and the environment a node's service would give it. It is started in its
own session so that stopping it kills the crawls it runs, as when a machine goes down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CONF = """[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
max_proc = {max_proc}
poll_interval = 0.2
logs_dir = {folder}/logs
dbs_dir = {folder}/dbs
eggs_dir = {folder}/eggs
items_dir =
jobs_to_keep = 20
finished_to_keep = 200
"""
# Scrapyd lists a project's spiders with `scrapy list` run in its own folder: Scrapy finds the
# project through the closest scrapy.cfg (deploy/ runs nodes in the checkout, which has it).
SCRAPY_CFG = """[settings]
bodyguard = {settings}
"""


@dataclass
class Node:
    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    def stop(self) -> None:
        """Kills the node and every crawl it runs, at once (a machine that goes down)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def running_jobs(self) -> list[str]:
        with urllib.request.urlopen(f"{self.url}/listjobs.json?project=bodyguard", timeout=5) as r:
            return [job["id"] for job in json.loads(r.read())["running"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(
    folder: Path, env: dict[str, str], max_proc: int = 2, settings: str = "crawlers.settings"
) -> Node:
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (folder / "scrapyd.conf").write_text(
        CONF.format(port=port, folder=folder, max_proc=max_proc), encoding="utf-8"
    )
    (folder / "scrapy.cfg").write_text(SCRAPY_CFG.format(settings=settings), encoding="utf-8")
    log = open(folder / "scrapyd.log", "wb")  # noqa: SIM115 (closed with the process)
    scrapyd = Path(sys.executable).with_name("scrapyd")
    process = subprocess.Popen(
        [str(scrapyd)], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"scrapyd exited with {process.returncode}: "
                + (folder / "scrapyd.log").read_text(errors="replace")[-2000:]
            )
        try:
            with urllib.request.urlopen(f"{url}/daemonstatus.json", timeout=2) as response:
                if json.loads(response.read()).get("status") == "ok":
                    return Node(url, process, folder)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"scrapyd on port {port} did not answer within 60 s")
