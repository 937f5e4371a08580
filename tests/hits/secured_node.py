"""A second, secured Elasticsearch 8.12.2 node for tests: the same verified distribution as the
local node (scripts/elasticsearch.sh), started with security on, HTTPS with a CA and node
certificate made here, and a user of the file realm created offline with elasticsearch-users."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from demo.smtp_sink import free_port

ES_VERSION = "8.12.2"
# scripts/elasticsearch.sh runs Elasticsearch as this user when started as root (it refuses
# to run as root) and makes the distribution readable to it.
ES_USER = "bodyguard-es"
USER = "bodyguard-test"
START_TIMEOUT_S = 240


def es_home() -> Path:
    """Where scripts/elasticsearch.sh unpacked the distribution (same rules as the script)."""
    default = "/var/cache/bodyguard" if os.geteuid() == 0 else str(Path.home() / ".cache/bodyguard")
    home = Path(os.environ.get("BODYGUARD_CACHE") or default) / f"elasticsearch-{ES_VERSION}"
    if not (home / "bin" / "elasticsearch").exists():
        raise RuntimeError(
            f"no Elasticsearch {ES_VERSION} distribution in {home}: run scripts/elasticsearch.sh "
            "start once (without ELASTICSEARCH_URL) to download and verify it"
        )
    return home


@dataclass(frozen=True)
class SecuredNode:
    url: str
    ca_file: Path
    username: str
    password: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1 and localhost: (ca, cert, key) PEM files."""
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Bodyguard test CA"))
        .issuer_name(_name("Bodyguard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.crt", folder / "node.crt", folder / "node.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _as_es_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", ES_USER, "--", *command] if os.geteuid() == 0 else command


def _healthy(url: str, ca_file: Path, username: str, password: str) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/_cluster/health?wait_for_status=yellow&timeout=2s",
        headers={"Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


class SecuredNodeProcess:
    """Start with :meth:`start`, stop with :meth:`stop` (the folder is deleted)."""

    def __init__(self) -> None:
        self.home = es_home()
        # Not pytest's tmp_path: the node's user must reach it, and /tmp/pytest-of-root is 0700.
        self.root = Path(tempfile.mkdtemp(prefix="bodyguard-secured-es-"))
        self.port = free_port()
        self.transport_port = free_port()
        self.pid_file = self.root / "elasticsearch.pid"

    def _configure(self) -> SecuredNode:
        config = self.root / "config"
        shutil.copytree(self.home / "config", config)
        for leftover in ("elasticsearch.keystore",):
            (config / leftover).unlink(missing_ok=True)
        ca_file, _, _ = write_certificates(config / "certs")
        (self.root / "data").mkdir()
        (self.root / "logs").mkdir()
        (config / "elasticsearch.yml").write_text(
            f"""cluster.name: bodyguard-secured-test
node.name: bodyguard-secured-{self.port}
path.data: {self.root / "data"}
path.logs: {self.root / "logs"}
network.host: 127.0.0.1
http.port: {self.port}
transport.port: {self.transport_port}
discovery.type: single-node
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.certificate: certs/node.crt
xpack.security.http.ssl.key: certs/node.key
xpack.security.http.ssl.certificate_authorities: certs/ca.crt
xpack.security.transport.ssl.enabled: false
xpack.security.authc.api_key.enabled: true
xpack.ml.enabled: false
ingest.geoip.downloader.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
""",
            encoding="utf-8",
        )
        # As scripts/elasticsearch.sh does: GC logs and dumps go to this node's folders, not
        # into the shared distribution.
        jvm = config / "jvm.options"
        jvm.write_text(
            jvm.read_text(encoding="utf-8")
            .replace("file=logs/", f"file={self.root / 'logs'}/")
            .replace("ErrorFile=logs/", f"ErrorFile={self.root / 'logs'}/")
            .replace("HeapDumpPath=data", f"HeapDumpPath={self.root / 'data'}"),
            encoding="utf-8",
        )
        password = secrets.token_urlsafe(18)
        subprocess.run(
            [
                str(self.home / "bin" / "elasticsearch-users"),
                *("useradd", USER, "-p", password, "-r", "superuser"),
            ],
            env={**os.environ, "ES_PATH_CONF": str(config)},
            check=True,
            capture_output=True,
            timeout=120,
        )
        if os.geteuid() == 0:
            shutil.chown(self.root, ES_USER)
            for path in self.root.rglob("*"):
                shutil.chown(path, ES_USER)
        return SecuredNode(f"https://127.0.0.1:{self.port}", ca_file, USER, password)

    def start(self) -> SecuredNode:
        node = self._configure()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ES_", "ELASTICSEARCH"))},
            "ES_PATH_CONF": str(self.root / "config"),
            "ES_JAVA_OPTS": "-Xms256m -Xmx256m",
        }
        launch = [str(self.home / "bin" / "elasticsearch"), "-d", "-p", str(self.pid_file)]
        started = subprocess.run(
            _as_es_user(["env", *(f"{k}={v}" for k, v in env.items()), *launch]),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            cwd=self.root,
        )
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"the secured Elasticsearch node did not start:\n{started.stdout}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(node.url, node.ca_file, node.username, node.password):
            if time.monotonic() > deadline:
                log = self.root / "logs" / "bodyguard-secured-test.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"the secured node never became healthy:\n{tail}")
            time.sleep(1)
        return node

    def stop(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(120):
                    os.kill(pid, 0)
                    time.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
