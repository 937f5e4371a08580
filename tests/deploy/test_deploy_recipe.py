"""The deployment recipe in deploy/ (docs/deploy.md) holds together: what would break a real
deployment is caught here, without a Docker daemon or systemd.

- compose.yaml: the three Elasticsearch nodes form one cluster; every Bodyguard container
  reaches the same PostgreSQL and cluster, shares the evidence volume at the path it is told,
  and sets only variables config/environment.py reads (a renamed variable fails here); the
  monitor schedules on exactly the Scrapyd services.
- the systemd units start things that exist (the management command, the WSGI application,
  Scrapyd with options Scrapyd knows), can write where the configuration says they write, and
  the web unit's Gunicorn command line really serves the app; the Scrapyd node started as its
  unit does lists the project, requires its password and accepts no uploaded code.
"""

from __future__ import annotations

import ast
import base64
import configparser
import importlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from config.environment import load
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "bodyguard.env.example"
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:8.12.2"
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# A placeholder the test gives the deployment's features key (production refuses a bad one).
FEATURES_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


# --- what the software reads ---------------------------------------------------------------


def names_read_by_config() -> set[str]:
    """Variable names config/environment.py reads: ``env.get("X")``, ``environ.get("X")`` and
    helpers called as ``_helper(env, "X", ...)``, found in its source."""
    tree = ast.parse((ROOT / "config" / "environment.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, args = node.func, node.args
        candidates: list[ast.expr] = []
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and isinstance(func.value, ast.Name)
            and func.value.id in {"env", "environ"}
            and args
        ):
            candidates.append(args[0])
        if len(args) >= 2 and isinstance(args[0], ast.Name) and args[0].id in {"env", "environ"}:
            candidates.append(args[1])
        for arg in candidates:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and NAME.match(arg.value)
            ):
                found.add(arg.value)
    assert {"DATABASE_URL", "ELASTICSEARCH_URL", "BODYGUARD_EVIDENCE_DIR"} <= found, found
    return found


def names_read_by_scrapyd() -> set[str]:
    spec = importlib.util.find_spec("scrapyd")
    assert spec and spec.origin, "Scrapyd is not installed in the project's environment"
    found: set[str] = set()
    for path in Path(spec.origin).parent.glob("*.py"):
        found |= set(re.findall(r"os\.getenv\(\"([A-Z_]+)\"", path.read_text(encoding="utf-8")))
    assert {"SCRAPYD_USERNAME", "SCRAPYD_PASSWORD"} <= found, found
    return found


def scrapyd_default_options() -> configparser.ConfigParser:
    spec = importlib.util.find_spec("scrapyd")
    assert spec and spec.origin
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(spec.origin).parent / "default_scrapyd.conf", encoding="utf-8")
    return parser


def source_credential_names() -> set[str]:
    """Environment variables source files name for their secrets (config.environment.secret)."""
    found: set[str] = set()
    for path in (ROOT / "config" / "sources").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found |= set((data.get("credentials") or {}).values())
    return found


# --- the recipe's files --------------------------------------------------------------------


def read_env_file(path: Path, *, commented: bool = False) -> dict[str, str]:
    """NAME=value lines (systemd EnvironmentFile and Compose .env syntax); with ``commented``,
    the ``# NAME=value`` examples too."""
    values: dict[str, str] = {}
    pattern = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
    for line in path.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line.strip())
        if match and (commented or not match.group(1)):
            values[match.group(2)] = match.group(3).strip()
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        present = name in variables and (variables[name] != "" or ":" not in op)
        if present:
            return variables[name]
        if op.endswith("?"):
            raise AssertionError(f"compose.yaml requires {name}: {arg}")
        return arg if op.endswith("-") else ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, value)


def interpolated(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolated(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(item, variables) for key, item in node.items()}
    return node


def compose_variables() -> dict[str, str]:
    """deploy/compose.env.example as an operator fills it (a valid features key)."""
    variables = read_env_file(DEPLOY / "compose.env.example")
    variables["BODYGUARD_FEATURES_KEY"] = FEATURES_KEY
    return variables


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    return interpolated(yaml.safe_load(raw), compose_variables())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (source, read-only) of a service's volumes (short syntax)."""
    found: dict[str, tuple[str, bool]] = {}
    for entry in service.get("volumes") or []:
        source, target, *mode = str(entry).split(":")
        found[target] = (source, bool(mode) and "ro" in mode[0].split(","))
    return found


def es_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose["services"].items()
        if str(s.get("image", "")).startswith("docker.elastic.co/elasticsearch/")
        and "node.name" in environment(s)
    }


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running the Bodyguard image (built from deploy/Dockerfile)."""
    return {
        name: s
        for name, s in compose["services"].items()
        if str((s.get("build") or {}).get("dockerfile", "")).endswith("deploy/Dockerfile")
    }


def role(compose: dict[str, Any], word: str) -> dict[str, dict[str, Any]]:
    """The app services whose command runs ``word`` (``monitor``, ``gunicorn``)."""
    return {n: s for n, s in app_services(compose).items() if word in " ".join(command(s)).split()}


def scrapyd_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in app_services(compose).items() if command(s)[:1] == ["scrapyd"]}


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(
        strict=False, interpolation=None, delimiters=("=",), comment_prefixes=("#", ";")
    )
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(path, encoding="utf-8")
    return unit


def unit_lines(role_name: str, key: str) -> list[str]:
    """Every value of a directive a unit may repeat (ExecStartPre)."""
    text = (UNITS / f"bodyguard-{role_name}.service").read_text(encoding="utf-8")
    return [
        line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(key + "=")
    ]


def unit(role_name: str) -> configparser.SectionProxy:
    return read_unit(UNITS / f"bodyguard-{role_name}.service")["Service"]


def here(argv: list[str], service: configparser.SectionProxy) -> list[str]:
    """A unit's command line with its working directory replaced by this checkout."""
    workdir = service["WorkingDirectory"]
    return [part.replace(workdir, str(ROOT)) for part in argv]


def option(argv: list[str], name: str) -> str:
    for i, part in enumerate(argv):
        if part == name:
            return argv[i + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


# --- compose.yaml --------------------------------------------------------------------------


def test_three_elasticsearch_nodes_form_one_cluster(compose):
    nodes = es_nodes(compose)
    assert len(nodes) == 3, f"Elasticsearch services: {sorted(nodes)}"
    names = set(nodes)
    clusters = set()
    for service_name, service in nodes.items():
        env = environment(service)
        assert service["image"] == ES_IMAGE
        assert env["node.name"] == service_name, "node.name must be the service (host) name"
        seeds = {h.strip() for h in env["discovery.seed_hosts"].split(",")}
        assert seeds <= names, f"{service_name} seeds hosts that are not nodes: {seeds - names}"
        assert seeds | {service_name} == names, (
            f"{service_name} does not list {names - seeds - {service_name}} in discovery.seed_hosts"
        )
        masters = {h.strip() for h in env["cluster.initial_master_nodes"].split(",")}
        assert masters == names, f"{service_name}: cluster.initial_master_nodes={masters}"
        clusters.add(env["cluster.name"])
        # Heap fixed (Xms = Xmx) and at most half the container's memory: Lucene needs the rest.
        heap = re.findall(r"-Xm([sx])(\d+)([gm])", env["ES_JAVA_OPTS"])
        sizes = {kind: int(n) * (1024 if unit_ == "g" else 1) for kind, n, unit_ in heap}
        assert sizes.get("s") == sizes.get("x"), env["ES_JAVA_OPTS"]
        limit = re.fullmatch(r"(\d+)([gm])", str(service["mem_limit"]))
        assert limit, service["mem_limit"]
        assert sizes["x"] * 2 <= int(limit[1]) * (1024 if limit[2] == "g" else 1)
        # Security on: nodes talk over TLS, each with its own certificate.
        assert env["xpack.security.enabled"] == "true"
        assert env["xpack.security.transport.ssl.enabled"] == "true"
        for key in ("transport", "http"):
            assert f"/{service_name}/" in env[f"xpack.security.{key}.ssl.certificate"]
            assert f"/{service_name}/" in env[f"xpack.security.{key}.ssl.key"]
    assert len(clusters) == 1, f"the nodes name different clusters: {clusters}"
    data = [src for s in nodes.values() for t, (src, _) in mounts(s).items() if t.endswith("/data")]
    assert len(set(data)) == 3, f"each node needs its own data volume: {data}"
    assert set(data) <= set(compose["volumes"])


def test_every_app_service_uses_the_same_database_and_cluster(compose):
    services = app_services(compose)
    assert {"web", "monitor"} <= set(services) and len(scrapyd_services(compose)) == 2
    [(pg_name, pg)] = [
        (n, s)
        for n, s in compose["services"].items()
        if str(s.get("image", "")).startswith("postgres:")
    ]
    assert pg["image"] == "postgres:16" and "healthcheck" in pg
    pg_env = environment(pg)
    nodes = es_nodes(compose)
    for name, service in services.items():
        env = environment(service)
        db = urlsplit(env["DATABASE_URL"])
        assert db.scheme in {"postgres", "postgresql"}, f"{name}: {env['DATABASE_URL']}"
        assert (db.hostname, db.port or 5432) == (pg_name, 5432), f"{name}: {db.hostname}"
        assert db.path.lstrip("/") == pg_env["POSTGRES_DB"]
        assert (db.username, db.password) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
        urls = [urlsplit(u.strip()) for u in env["ELASTICSEARCH_URL"].split(",")]
        assert {u.hostname for u in urls} == set(nodes), f"{name}: ELASTICSEARCH_URL {urls}"
        for url in urls:
            assert url.port == 9200
            http_tls = environment(nodes[str(url.hostname)])["xpack.security.http.ssl.enabled"]
            assert url.scheme == ("https" if http_tls == "true" else "http")
        # The cluster's CA, from the volume the nodes keep their certificates in.
        ca = env["ELASTICSEARCH_CA_CERTS"]
        mount = next((t for t in mounts(service) if ca.startswith(t.rstrip("/") + "/")), None)
        assert mount, f"{name}: {ca} is not on any of its volumes"
        source, _ = mounts(service)[mount]
        node_certs = {src: target for s in nodes.values() for target, (src, _) in mounts(s).items()}
        assert source in node_certs, f"{name}: {source} is not the nodes' certificates volume"
        ca_in_node = environment(next(iter(nodes.values())))[
            "xpack.security.http.ssl.certificate_authorities"
        ]
        assert ca[len(mount) :].lstrip("/") == ca_in_node.removeprefix("certs/"), (ca, ca_in_node)


def test_monitor_schedules_on_exactly_the_scrapyd_services(compose):
    monitors = role(compose, "monitor")
    assert len(monitors) == 1, f"exactly one monitor per deployment, found {sorted(monitors)}"
    [monitor] = monitors.values()
    assert "replicas" not in (monitor.get("deploy") or {})
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(DEPLOY / "scrapyd.conf", encoding="utf-8")
    urls = [urlsplit(u.strip()) for u in environment(monitor)["BODYGUARD_SCRAPYD_URLS"].split(",")]
    nodes = scrapyd_services(compose)
    assert sorted(str(u.hostname) for u in urls) == sorted(nodes)
    for url in urls:
        node = nodes[str(url.hostname)]
        env = environment(node)
        port = int(env.get("SCRAPYD_HTTP_PORT") or conf["scrapyd"]["http_port"])
        assert url.port == port, f"{url.hostname} listens on {port}, the monitor calls {url.port}"
        assert str(port) in [str(p) for p in node.get("expose") or []]
        assert (url.username, url.password) == (env["SCRAPYD_USERNAME"], env["SCRAPYD_PASSWORD"])
        assert url.password, "a Scrapyd node without a password runs whatever it is sent"
        assert monitor["depends_on"][url.hostname]["condition"] == "service_healthy"


def test_evidence_volume_is_shared_where_each_service_looks_for_it(compose):
    sharing = {**role(compose, "gunicorn"), **role(compose, "monitor"), **scrapyd_services(compose)}
    assert len(sharing) == 4, sorted(sharing)
    volumes = set()
    for name, service in sharing.items():
        path = environment(service)["BODYGUARD_EVIDENCE_DIR"]
        assert path in mounts(service), f"{name}: nothing mounted at BODYGUARD_EVIDENCE_DIR={path}"
        source, read_only = mounts(service)[path]
        assert not read_only, f"{name} writes evidence"
        assert source in compose["volumes"], f"{name}: {source} is not a named volume"
        volumes.add(source)
    assert len(volumes) == 1, f"evidence is split across volumes: {volumes}"


def test_each_app_container_keeps_its_own_state(compose):
    """The journal (hits waiting for Elasticsearch) survives a restart, and is no one else's."""
    seen: dict[str, str] = {}
    for name, service in app_services(compose).items():
        if name == "migrate":
            continue
        path = environment(service)["BODYGUARD_VAR_DIR"]
        assert path in mounts(service), f"{name}: BODYGUARD_VAR_DIR={path} is not on a volume"
        source = mounts(service)[path][0]
        assert source not in seen, f"{name} and {seen.get(source)} share {source}"
        seen[source] = name


def test_app_services_set_only_variables_the_software_reads(compose):
    known = names_read_by_config()
    scrapyd = names_read_by_scrapyd()
    for name, service in app_services(compose).items():
        allowed = known | (scrapyd if name in scrapyd_services(compose) else set())
        unknown = set(environment(service)) - allowed
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"


def ca_certificate(directory: Path) -> Path:
    """A real self-signed CA certificate (PEM), standing in for the cluster's CA file, which
    the configuration reads at start-up and exists only on a deployed machine."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Elastic Certificate Tool Autogenerated CA")]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_app_services_environment_is_accepted_by_the_configuration(compose, tmp_path):
    ca = ca_certificate(tmp_path)
    for name, service in app_services(compose).items():
        values = environment(service)
        assert values["ELASTICSEARCH_CA_CERTS"]  # checked against the volumes above
        env = load({**values, "ELASTICSEARCH_CA_CERTS": str(ca)})
        assert str(env.evidence_dir) == "/srv/bodyguard/evidence", name
        assert env.elasticsearch.username == "bodyguard" and env.elasticsearch.password, name
        assert len(env.elasticsearch.hosts) == 3, name


def test_depends_on_names_existing_services_and_conditions_they_can_meet(compose):
    services = compose["services"]
    for name, service in services.items():
        for other, how in (service.get("depends_on") or {}).items():
            assert other in services, f"{name} depends on {other}, which does not exist"
            condition = how["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[other], f"{other} has no healthcheck ({name})"
            elif condition == "service_completed_successfully":
                assert services[other].get("restart", "no") == "no", f"{other} never completes"
        for entry in service.get("volumes") or []:
            source = str(entry).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
            elif source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"


def test_every_required_compose_variable_is_in_its_example():
    raw = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?", raw))
    listed = set(read_env_file(DEPLOY / "compose.env.example"))
    assert required and required <= listed, f"missing from compose.env.example: {required - listed}"


def test_the_image_runs_the_checkout_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install '.[postgres]'" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert "COPY deploy/scrapyd.conf /etc/scrapyd/scrapyd.conf" in dockerfile
    # The same paths as the systemd units, so the two recipes describe one layout.
    assert f"WORKDIR {unit('web')['WorkingDirectory']}" in dockerfile
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert "deploy/.env" in ignored and ".venv" in ignored


# --- the environment file ------------------------------------------------------------------


def test_env_example_lists_every_variable_and_only_real_ones():
    known = names_read_by_config()
    listed = read_env_file(ENV_EXAMPLE, commented=True)
    missing = known - set(listed)
    assert not missing, f"bodyguard.env.example does not mention {sorted(missing)}"
    unknown = set(listed) - known - names_read_by_scrapyd() - source_credential_names()
    assert not unknown, f"bodyguard.env.example sets {sorted(unknown)}, which nothing reads"


def test_env_example_is_a_valid_production_configuration(tmp_path):
    values = read_env_file(ENV_EXAMPLE)
    assert values["ELASTICSEARCH_CA_CERTS"].startswith("/etc/bodyguard/")
    ca = str(ca_certificate(tmp_path))
    env = load({**values, "BODYGUARD_FEATURES_KEY": FEATURES_KEY, "ELASTICSEARCH_CA_CERTS": ca})
    assert values["BODYGUARD_ENV"] == "production"
    assert env.behind_tls_proxy and "127.0.0.1/32" in env.trusted_proxies
    for url in values["BODYGUARD_SCRAPYD_URLS"].split(","):
        parts = urlsplit(url)
        assert (parts.username, parts.password) == (
            values["SCRAPYD_USERNAME"],
            values["SCRAPYD_PASSWORD"],
        )


# --- the systemd units ---------------------------------------------------------------------


@pytest.mark.parametrize("role_name", ["web", "monitor", "scrapyd"])
def test_unit_runs_hardened_as_the_service_user_and_can_write_its_state(role_name):
    service = unit(role_name)
    values = read_env_file(ENV_EXAMPLE)
    assert service["User"] == "bodyguard" and service["Group"] == "bodyguard"
    assert service["EnvironmentFile"] == "/etc/bodyguard/bodyguard.env"
    assert service["WorkingDirectory"] == "/opt/bodyguard"
    assert service["Restart"] == "on-failure"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, f"{role_name}: {key}={service.get(key)}"
    # ProtectSystem=strict leaves writable only what the unit lists: var/ (its state
    # directory) and the evidence volume, where the configuration puts them.
    states = {f"/var/lib/{d}" for d in service["StateDirectory"].split()}
    assert values["BODYGUARD_VAR_DIR"] in states
    assert values["BODYGUARD_JOURNAL_DIR"].startswith(values["BODYGUARD_VAR_DIR"] + "/")
    writable = service["ReadWritePaths"].split()
    assert values["BODYGUARD_EVIDENCE_DIR"] in writable
    mounts_for = read_unit(UNITS / f"bodyguard-{role_name}.service")["Unit"]["RequiresMountsFor"]
    assert values["BODYGUARD_EVIDENCE_DIR"] in mounts_for.split()


def test_monitor_unit_runs_a_management_command_that_exists():
    from django.core.management import get_commands

    service = unit("monitor")
    argv = here(shlex.split(service["ExecStart"]), service)
    assert Path(argv[0]).exists(), argv[0]
    assert Path(ROOT, argv[1]) == ROOT / "manage.py" and (ROOT / "manage.py").exists()
    assert get_commands().get(argv[2]) == "operations", f"no management command {argv[2]!r}"
    assert service["KillSignal"] == "SIGINT"  # how the scheduler is asked to stop


def test_web_unit_serves_the_wsgi_application_on_loopback_behind_the_proxy():
    from django.core.management import get_commands

    service = unit("web")
    argv = here(shlex.split(service["ExecStart"]), service)
    assert Path(argv[0]).name == "gunicorn" and Path(argv[0]).exists(), argv[0]
    module, _, attribute = argv[-1].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    host, _, port = option(argv, "--bind").rpartition(":")
    assert host == "127.0.0.1" and port == "8000"
    values = read_env_file(ENV_EXAMPLE)
    assert values["BODYGUARD_BEHIND_TLS_PROXY"] == "1"
    assert set(option(argv, "--forwarded-allow-ips").split(",")) <= set(
        values["BODYGUARD_TRUSTED_PROXIES"].split(",")
    )
    collect, chmod = (shlex.split(line) for line in unit_lines("web", "ExecStartPre"))
    assert collect[1:3] == ["manage.py", "collectstatic"] and "collectstatic" in get_commands()
    # The proxy serves /static/ from where collectstatic puts the files.
    assert chmod[-1] == values["BODYGUARD_VAR_DIR"] + "/static"


def test_scrapyd_unit_and_conf_use_options_scrapyd_knows():
    service = unit("scrapyd")
    argv = here(shlex.split(service["ExecStart"]), service)
    assert Path(argv[0]).name == "scrapyd" and Path(argv[0]).exists(), argv[0]
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(DEPLOY / "scrapyd.conf", encoding="utf-8")
    defaults = scrapyd_default_options()
    for section in conf.sections():
        assert defaults.has_section(section), f"scrapyd.conf: unknown section [{section}]"
        unknown = set(conf[section]) - set(defaults[section])
        assert not unknown, f"scrapyd.conf [{section}]: options Scrapyd does not know: {unknown}"
    assert conf["scrapyd"]["http_port"] == "6800"
    state = {f"/var/lib/{d}" for d in service["StateDirectory"].split()}
    for key in ("logs_dir", "dbs_dir", "eggs_dir"):
        assert any(conf["scrapyd"][key].startswith(s + "/") for s in state), key
    # No code can be uploaded to a node.
    assert conf["services"]["addversion.json"] == ""
    # The node lists the project from the checkout's scrapy.cfg, under the name the monitor uses.
    from crawlers.scrapyd import PROJECT

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "scrapy.cfg", encoding="utf-8")
    assert cfg["settings"].get(PROJECT) == "crawlers.settings"


def test_units_pass_systemd_analyze_verify(tmp_path):
    """systemd's own check: unknown directives, bad values, commands that are not executable.
    (Debian's systemd package, on every machine of this kind.)"""
    assert shutil.which("systemd-analyze"), "systemd-analyze is needed: apt-get install systemd"
    names = []
    for path in sorted(UNITS.glob("*.service")):
        workdir = read_unit(path)["Service"]["WorkingDirectory"]
        (tmp_path / path.name).write_text(
            path.read_text(encoding="utf-8").replace(workdir, str(ROOT))
        )
        names.append(str(tmp_path / path.name))
    assert len(names) == 3
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line
    ]
    assert not complaints, "\n".join(complaints)


# --- the web and crawl roles, started as their units start them ----------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_environment(tmp_path: Path) -> dict[str, str]:
    """The embedded defaults (SQLite in a temporary var/), as a unit's process would see them."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path / "home"),
        "DATABASE_URL": "",
        "BODYGUARD_VAR_DIR": str(tmp_path / "var"),
        "BODYGUARD_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "ELASTICSEARCH_URL": "http://127.0.0.1:9200",
    }


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {pair}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered at {url} in {seconds} s:\n{log.read_text()[-3000:]}")


@contextmanager
def started(
    argv: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_web_unit_command_serves_the_sign_in_page(tmp_path):
    service = unit("web")
    port = free_port()
    env = {**local_environment(tmp_path), "HOME": str(tmp_path / "home")}
    cwd = Path(here([service["WorkingDirectory"]], service)[0])
    # ExecStartPre: the admin's static files land in var/, which the unit can write, readable
    # by the proxy's user.
    var_dir = read_env_file(ENV_EXAMPLE)["BODYGUARD_VAR_DIR"]
    for line in unit_lines("web", "ExecStartPre"):
        pre = [
            p.replace(var_dir, env["BODYGUARD_VAR_DIR"]) for p in here(shlex.split(line), service)
        ]
        subprocess.run(
            pre, cwd=cwd, env=env, umask=int(service["UMask"], 8),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    css = tmp_path / "var" / "static" / "admin" / "css" / "base.css"
    assert css.is_file() and css.stat().st_mode & 0o004, oct(css.stat().st_mode)
    argv = [
        part.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for part in here(shlex.split(service["ExecStart"]), service)
    ]
    log = tmp_path / "gunicorn.log"
    with started(argv, cwd, env, log) as process:
        wait_for(f"http://127.0.0.1:{port}/login/", process, log)
        status, body = get(f"http://127.0.0.1:{port}/login/")
        assert status == 200, body[:500]
        assert b'name="password"' in body and b"csrfmiddlewaretoken" in body
        status, _body = get(f"http://127.0.0.1:{port}/espace/")
        assert status == 200


def test_scrapyd_unit_command_lists_the_project_and_locks_the_node(tmp_path):
    from crawlers.scrapyd import PROJECT

    service = unit("scrapyd")
    port = free_port()
    env = {
        **local_environment(tmp_path),
        # Bound to loopback on a free port for the test; the rest is deploy/scrapyd.conf.
        "SCRAPYD_BIND_ADDRESS": "127.0.0.1",
        "SCRAPYD_HTTP_PORT": str(port),
        "SCRAPYD_USERNAME": "bodyguard",
        "SCRAPYD_PASSWORD": "s3cret",
    }
    # Scrapyd reads ~/.scrapyd.conf: the recipe's file, its directories moved into tmp_path.
    home = Path(env["HOME"])
    home.mkdir()
    conf = (DEPLOY / "scrapyd.conf").read_text(encoding="utf-8")
    (home / ".scrapyd.conf").write_text(conf.replace("/var/lib/bodyguard", str(tmp_path / "var")))
    cwd = Path(here([service["WorkingDirectory"]], service)[0])
    pidfile_before = (cwd / "twistd.pid").exists()
    argv = here(shlex.split(service["ExecStart"]), service)
    log = tmp_path / "scrapyd.log"
    base = f"http://127.0.0.1:{port}"
    auth = ("bodyguard", "s3cret")
    with started(argv, cwd, env, log) as process:
        wait_for(f"{base}/daemonstatus.json", process, log)
        # The checkout is read-only under the unit (ProtectSystem=strict): twistd must not
        # need to write its pid file there.
        assert pidfile_before or not (cwd / "twistd.pid").exists(), "twistd.pid in the checkout"
        assert get(f"{base}/daemonstatus.json")[0] == 401
        assert get(f"{base}/daemonstatus.json", ("bodyguard", "wrong"))[0] == 401
        status, body = get(f"{base}/listprojects.json", auth)
        assert status == 200 and PROJECT in yaml.safe_load(body)["projects"], body
        # No egg (code) can be uploaded, replaced or deleted.
        for service_name in ("addversion.json", "delproject.json", "delversion.json"):
            assert get(f"{base}/{service_name}", auth)[0] == 404, service_name
        # The node runs the project's spiders from the checkout.
        status, body = get(f"{base}/listspiders.json?project={PROJECT}", auth)
        answer = yaml.safe_load(body)
        assert status == 200 and answer["status"] == "ok", body[:2000]
        assert {"discourse", "phpbb", "searxng"} <= set(answer["spiders"]), answer
    # Its queues are where deploy/scrapyd.conf puts them: the recipe's file was the one read.
    assert (tmp_path / "var" / "scrapyd" / "dbs").is_dir()
