"""The provisioning script fails with a message that says what to do."""

import http.server
import os
import subprocess
import threading

from demo.smtp_sink import free_port
from tests.conftest import ROOT

SCRIPT = str(ROOT / "scripts" / "elasticsearch.sh")


def _run(*args, **env):
    base = {k: v for k, v in os.environ.items() if k != "ELASTICSEARCH_URL"}
    return subprocess.run(
        [SCRIPT, *args], env=base | env, capture_output=True, text=True, timeout=120
    )


def test_a_port_taken_by_another_program_is_reported():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _run("start", ES_PORT=str(server.server_port))
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert f"port {server.server_port}" in result.stderr
    assert "ES_PORT=" in result.stderr


def test_a_failed_download_is_reported(tmp_path):
    result = _run(
        "start",
        ES_PORT=str(free_port()),
        BODYGUARD_CACHE=str(tmp_path / "cache"),
        npm_config_registry=f"http://127.0.0.1:{free_port()}/",
        npm_config_fetch_retries="0",
    )
    assert result.returncode == 1
    assert "download" in result.stderr and "failed" in result.stderr
    assert "ELASTICSEARCH_URL" in result.stderr
    assert not (tmp_path / "cache" / "elasticsearch-8.12.2").exists()


def test_an_unreachable_external_cluster_is_reported():
    result = _run(
        "start", ELASTICSEARCH_URL=f"http://127.0.0.1:{free_port()}", ES_START_TIMEOUT="2"
    )
    assert result.returncode == 1
    assert "does not answer" in result.stderr
