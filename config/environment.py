"""Everything Bodyguard reads from the process environment, read once and typed.

No other module reads ``os.environ``: they import :data:`ENV` (or receive the values they need).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigurationError(Exception):
    """An environment variable has a value Bodyguard cannot use."""


def _int(environ: dict[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _positive(environ: dict[str, str], name: str, default: int) -> int:
    value = _int(environ, name, default)
    if value < 1:
        raise ConfigurationError(f"{name}={value} must be at least 1")
    return value


def _bool(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


@dataclass(frozen=True)
class Environment:
    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    var_dir: Path
    database_url: str
    elasticsearch_url: str
    es_index_prefix: str
    es_timeout_s: int
    sources_dir: Path
    email_host: str
    email_port: int
    email_user: str
    email_password: str
    email_use_tls: bool
    email_from: str
    crawl_time_limit_s: int
    digest_hour: int
    site_url: str
    journal_dir: Path
    staff_emails: tuple[str, ...]
    retention_days: int
    corpus_days: int
    evidence_dir: Path
    notifier: Notifier
    screenshots: bool
    chromium: str
    recheck_hours: int
    notice_reminder_days: int
    escalation_days: int
    # Key sealing registered photos' local features (base64 of 32 bytes); empty in development,
    # where a key is generated into var/ (clients.keys).
    features_key: str = ""
    # "host:port" of the DNS server every outbound connection's name is resolved through.
    dns_server: str = ""
    # Seconds between a re-check that finds content gone and the fetch that must confirm it.
    recheck_confirm_delay_s: int = 120
    # Behind a reverse proxy that terminates TLS (README "Behind a TLS proxy").
    behind_tls_proxy: bool = False
    csrf_trusted_origins: tuple[str, ...] = ()
    # Reverse proxies (addresses or networks) whose X-Forwarded-For gives the client address.
    trusted_proxies: tuple[str, ...] = ()
    # The association's trusted-flagger designation (DSA article 22), e.g. "Arcom, décision
    # n° 2025-123"; empty while it holds none. Notices to online platforms then say so.
    trusted_flagger: str = ""
    # Where the victim space's "Quick exit" button leads: a neutral, everyday site.
    portal_exit_url: str = "https://www.google.fr/"

    @property
    def proxy_ssl_header(self) -> tuple[str, str] | None:
        # Only behind a proxy that sets (overwrites) X-Forwarded-Proto itself: anywhere else,
        # a client could send the header and pass for a secure request.
        return ("HTTP_X_FORWARDED_PROTO", "https") if self.behind_tls_proxy else None


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    found = []
    for raw in env.get(name, "").split(","):
        value = raw.strip()
        if not value:
            continue
        try:
            found.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ConfigurationError(
                f"{name}: {value!r} is not an IP address or network such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return tuple(found)


def _origins(env: dict[str, str], site_url: str) -> tuple[str, ...]:
    """The site's own origin and the extra ones configured, each checked."""
    found: list[str] = []
    for name, raw in (
        ("BODYGUARD_SITE_URL", site_url),
        *(
            ("BODYGUARD_CSRF_TRUSTED_ORIGINS", o)
            for o in env.get("BODYGUARD_CSRF_TRUSTED_ORIGINS", "").split(",")
        ),
    ):
        value = raw.strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigurationError(
                f"{name}: {value!r} is not an origin such as https://veille.example.org"
            )
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in found:
            found.append(origin)
    return tuple(found)


@dataclass(frozen=True)
class Notifier:
    """Who signs removal notices (DSA art. 16, LCEN art. 6): the association, for its client."""

    name: str
    legal_form: str
    address: str
    email: str
    representative: str


SECRET_KEY_FILE = "secret_key"


def install_secret_key(var_dir: Path) -> str:
    """This installation's own key, generated once into ``var/`` (mode 0600, never committed):
    a key published with the code would let anyone sign links."""
    path = var_dir / SECRET_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file, then linked into place: two processes
        # starting together agree on one key, and none ever reads a half-written one.
        fd, tmp = tempfile.mkstemp(dir=var_dir, prefix=".secret_key-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(64))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 50:
        raise ConfigurationError(
            f"{path} holds no usable secret key: delete it (a new one is generated) "
            "or set DJANGO_SECRET_KEY"
        )
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return key


def _features_key(env: dict[str, str]) -> str:
    raw = env.get("BODYGUARD_FEATURES_KEY", "").strip()
    if not raw:
        if env.get("BODYGUARD_ENV", "dev") == "production":
            raise ConfigurationError(
                "BODYGUARD_FEATURES_KEY must be set in production (base64 of 32 random bytes: "
                "python -c 'import os,base64; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
            )
        return ""
    try:
        key = base64.urlsafe_b64decode(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise ConfigurationError(
            "BODYGUARD_FEATURES_KEY must be the base64 (URL-safe) of exactly 32 bytes"
        )
    return raw


def load(environ: dict[str, str] | None = None) -> Environment:
    env = dict(os.environ if environ is None else environ)
    var_dir = Path(env.get("BODYGUARD_VAR_DIR") or BASE_DIR / "var")
    es_port = _int(env, "ES_PORT", 9200)
    digest_hour = _int(env, "BODYGUARD_DIGEST_HOUR", 18)
    if not 0 <= digest_hour <= 23:
        raise ConfigurationError(f"BODYGUARD_DIGEST_HOUR={digest_hour} must be between 0 and 23")
    debug = _bool(env, "BODYGUARD_DEBUG", False)
    secret_key = env.get("DJANGO_SECRET_KEY", "")
    if not secret_key:
        if not debug and env.get("BODYGUARD_ENV", "dev") == "production":
            raise ConfigurationError("DJANGO_SECRET_KEY must be set in production")
        secret_key = install_secret_key(var_dir)
    return Environment(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=tuple(
            h.strip()
            for h in env.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
            if h.strip()
        ),
        var_dir=var_dir,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'bodyguard.sqlite3'}",
        elasticsearch_url=env.get("ELASTICSEARCH_URL") or f"http://127.0.0.1:{es_port}",
        es_index_prefix=env.get("BODYGUARD_INDEX_PREFIX", "bodyguard"),
        es_timeout_s=_int(env, "BODYGUARD_ES_TIMEOUT", 10),
        sources_dir=Path(env.get("BODYGUARD_SOURCES_DIR") or BASE_DIR / "config" / "sources"),
        email_host=env.get("EMAIL_HOST", "127.0.0.1"),
        email_port=_int(env, "EMAIL_PORT", 25),
        email_user=env.get("EMAIL_HOST_USER", ""),
        email_password=env.get("EMAIL_HOST_PASSWORD", ""),
        email_use_tls=_bool(env, "EMAIL_USE_TLS", False),
        email_from=env.get(
            "BODYGUARD_EMAIL_FROM", "SOS Cyber-harcèlement <veille@bodyguard.invalid>"
        ),
        crawl_time_limit_s=_int(env, "BODYGUARD_CRAWL_TIME_LIMIT", 900),
        digest_hour=digest_hour,
        site_url=env.get("BODYGUARD_SITE_URL", "http://127.0.0.1:8000"),
        journal_dir=Path(env.get("BODYGUARD_JOURNAL_DIR") or var_dir / "journal"),
        retention_days=_int(env, "BODYGUARD_RETENTION_DAYS", 90),
        corpus_days=_positive(env, "BODYGUARD_CORPUS_DAYS", 180),
        evidence_dir=Path(env.get("BODYGUARD_EVIDENCE_DIR") or var_dir / "evidence"),
        staff_emails=tuple(
            e.strip() for e in env.get("BODYGUARD_STAFF_EMAILS", "").split(",") if e.strip()
        ),
        notifier=Notifier(
            name=env.get("BODYGUARD_NOTIFIER_NAME", "SOS Cyber-harcèlement"),
            legal_form=env.get("BODYGUARD_NOTIFIER_LEGAL_FORM", "association loi 1901"),
            address=env.get("BODYGUARD_NOTIFIER_ADDRESS", ""),
            email=env.get("BODYGUARD_NOTIFIER_EMAIL", "signalement@bodyguard.invalid"),
            representative=env.get("BODYGUARD_NOTIFIER_REPRESENTATIVE", ""),
        ),
        screenshots=_bool(env, "BODYGUARD_SCREENSHOTS", False),
        chromium=env.get("BODYGUARD_CHROMIUM", "chromium"),
        recheck_hours=_positive(env, "BODYGUARD_RECHECK_HOURS", 6),
        notice_reminder_days=_positive(env, "BODYGUARD_NOTICE_REMINDER_DAYS", 7),
        escalation_days=_positive(env, "BODYGUARD_ESCALATION_DAYS", 7),
        recheck_confirm_delay_s=_positive(env, "BODYGUARD_RECHECK_CONFIRM_DELAY", 120),
        behind_tls_proxy=_bool(env, "BODYGUARD_BEHIND_TLS_PROXY", False),
        trusted_proxies=_networks(env, "BODYGUARD_TRUSTED_PROXIES"),
        csrf_trusted_origins=_origins(env, env.get("BODYGUARD_SITE_URL", "http://127.0.0.1:8000")),
        dns_server=_host_port(env, "BODYGUARD_DNS_SERVER"),
        features_key=_features_key(env),
        trusted_flagger=env.get("BODYGUARD_TRUSTED_FLAGGER", "").strip(),
        portal_exit_url=_exit_url(env),
    )


def _exit_url(env: dict[str, str]) -> str:
    raw = env.get("BODYGUARD_PORTAL_EXIT_URL", "").strip() or "https://www.google.fr/"
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigurationError(
            f"BODYGUARD_PORTAL_EXIT_URL={raw!r} must be a web address such as https://www.google.fr/"
        )
    return raw


def _host_port(environ: dict[str, str], name: str) -> str:
    raw = environ.get(name, "").strip()
    host, _, port = raw.rpartition(":")
    if raw and not (host and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigurationError(f"{name}={raw!r} must be host:port, e.g. 127.0.0.53:53")
    return raw


def secret(name: str) -> str:
    """A credential, read from the environment variable a source names (never from a file)."""
    if not name or not name.replace("_", "").isalnum():
        raise ConfigurationError(f"{name!r} is not an environment variable name")
    value = os.environ.get(name, "")
    if not value:
        raise ConfigurationError(
            f"the environment variable {name} (named in a source's credentials) is not set"
        )
    return value


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The environment for a child process (a crawl): ours, with ``overrides`` on top."""
    return {**os.environ, **overrides}


ENV = load()
