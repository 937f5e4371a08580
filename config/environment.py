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
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

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
    elasticsearch: ElasticsearchAccess
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
    # Scrapyd nodes the monitor schedules crawls on; empty: crawls are local subprocesses.
    scrapyd_urls: tuple[str, ...] = ()

    @property
    def elasticsearch_url(self) -> str:
        """The cluster's URLs, comma-separated, without credentials."""
        return self.elasticsearch.url

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
        elasticsearch=_elasticsearch(env, default_url=f"http://127.0.0.1:{es_port}"),
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
        scrapyd_urls=_scrapyd_urls(env),
    )


def _scrapyd_urls(env: dict[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for raw in env.get("BODYGUARD_SCRAPYD_URLS", "").split(","):
        value = raw.strip().rstrip("/")
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            shown = value.replace(f":{parts.password}@", ":***@") if parts.password else value
            raise ConfigurationError(
                f"BODYGUARD_SCRAPYD_URLS: {shown!r} is not a Scrapyd node address such as "
                "http://bodyguard:PASSWORD@crawler-1:6800"
            )
        if value not in found:
            found.append(value)
    database = env.get("DATABASE_URL", "")
    if found and not database.startswith(("postgres://", "postgresql://", "pgsql://")):
        # Crawls on other machines write their state and stats into the database: a SQLite
        # file on the monitor's disk cannot be shared with them.
        raise ConfigurationError(
            "BODYGUARD_SCRAPYD_URLS is set, so crawls run on other machines and the database "
            "must be PostgreSQL, shared by the monitor and every node: set DATABASE_URL to "
            "postgres://user:password@host:5432/bodyguard (SQLite cannot be shared)"
        )
    return tuple(found)


# The variables that say how to reach Elasticsearch; a crawl process gets all of them.
ELASTICSEARCH_VARIABLES = (
    "ELASTICSEARCH_URL",
    "ELASTICSEARCH_API_KEY",
    "ELASTICSEARCH_USERNAME",
    "ELASTICSEARCH_PASSWORD",
    "ELASTICSEARCH_CA_CERTS",
)


@dataclass(frozen=True)
class ElasticsearchAccess:
    """How to reach the Elasticsearch cluster: its nodes' URLs (credentials never in them) and
    at most one way to authenticate. The secrets stay out of ``repr`` and of every message."""

    hosts: tuple[str, ...]
    api_key: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    ca_certs: Path | None = None

    @property
    def url(self) -> str:
        return ",".join(self.hosts)

    def with_url(self, url: str) -> ElasticsearchAccess:
        """The same credentials and CA for the nodes ``url`` lists (comma-separated)."""
        hosts, user, password = parse_elasticsearch_urls(url, "the Elasticsearch URL")
        # The CA only concerns https nodes (load() refuses it without one).
        ca_certs = self.ca_certs if any(h.startswith("https://") for h in hosts) else None
        if user:
            return replace(
                self, hosts=hosts, api_key="", username=user, password=password, ca_certs=ca_certs
            )
        return replace(self, hosts=hosts, ca_certs=ca_certs)

    def environment(self) -> dict[str, str]:
        """The variables a child process reads back into this same access (all of them, so
        none is inherited from elsewhere)."""
        return {
            "ELASTICSEARCH_URL": self.url,
            "ELASTICSEARCH_API_KEY": self.api_key,
            "ELASTICSEARCH_USERNAME": self.username,
            "ELASTICSEARCH_PASSWORD": self.password,
            "ELASTICSEARCH_CA_CERTS": str(self.ca_certs) if self.ca_certs else "",
        }


def redact_url(url: str) -> str:
    """``url`` with the password it carries (``https://user:secret@host``) masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def parse_elasticsearch_urls(raw: str, name: str) -> tuple[tuple[str, ...], str, str]:
    """(URLs without credentials, user, password) of a comma-separated list of node URLs;
    credentials written in the URLs (https://user:password@host) are taken out of them."""
    hosts: list[str] = []
    users: set[tuple[str, str]] = set()
    for item in raw.split(","):
        value = item.strip()
        if not value:
            continue
        shown = redact_url(value)
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or port == -1
            or parts.query
            or parts.fragment
        ):
            raise ConfigurationError(
                f"{name}: {shown!r} is not the URL of an Elasticsearch node such as "
                "https://es-1.example.org:9200 (http or https, a host, an optional port; "
                "several nodes are separated by commas)"
            )
        if parts.username is not None:
            if not parts.username or parts.password is None:
                raise ConfigurationError(
                    f"{name}: {shown!r} names a user without a password; "
                    "set ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD instead"
                )
            users.add((unquote(parts.username), unquote(parts.password)))
        netloc = parts.netloc.rpartition("@")[2]
        host = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        if host not in hosts:
            hosts.append(host)
    if not hosts:
        raise ConfigurationError(
            f"{name} names no Elasticsearch node: give one or more URLs separated by commas, "
            "e.g. https://es-1.example.org:9200,https://es-2.example.org:9200"
        )
    if len(users) > 1:
        raise ConfigurationError(
            f"{name}: its URLs carry different credentials; one cluster has one set: "
            "set ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD and remove them from the URLs"
        )
    user, password = next(iter(users)) if users else ("", "")
    return tuple(hosts), user, password


def _elasticsearch(env: dict[str, str], default_url: str) -> ElasticsearchAccess:
    # Never quote a secret's value in an error: these messages reach logs and terminals.
    hosts, url_user, url_password = parse_elasticsearch_urls(
        env.get("ELASTICSEARCH_URL", "").strip() or default_url, "ELASTICSEARCH_URL"
    )
    api_key = env.get("ELASTICSEARCH_API_KEY", "").strip()
    username = env.get("ELASTICSEARCH_USERNAME", "").strip()
    password = env.get("ELASTICSEARCH_PASSWORD", "")
    if bool(username) != bool(password):
        missing = "ELASTICSEARCH_PASSWORD" if username else "ELASTICSEARCH_USERNAME"
        raise ConfigurationError(
            "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together: "
            f"{missing} is not set (set both, or neither)"
        )
    if url_user:
        if username:
            raise ConfigurationError(
                "ELASTICSEARCH_URL carries a user and password and ELASTICSEARCH_USERNAME is "
                "set too: keep only ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD"
            )
        username, password = url_user, url_password
    if api_key:
        if username:
            raise ConfigurationError(
                "ELASTICSEARCH_API_KEY and a user name and password (ELASTICSEARCH_USERNAME, "
                "ELASTICSEARCH_PASSWORD or a user in ELASTICSEARCH_URL) are both set: "
                "use one way to authenticate"
            )
        try:
            decoded = base64.b64decode(api_key.encode("ascii"), validate=True).decode("utf-8")
        except (ValueError, UnicodeError):
            decoded = ""
        if ":" not in decoded:
            raise ConfigurationError(
                "ELASTICSEARCH_API_KEY is not an encoded API key: give the `encoded` value "
                "Elasticsearch returns when the key is created (base64 of id:api_key)"
            )
    ca_certs = _ca_certs(env)
    if ca_certs is not None and not any(h.startswith("https://") for h in hosts):
        raise ConfigurationError(
            "ELASTICSEARCH_CA_CERTS is set but no URL in ELASTICSEARCH_URL uses https: "
            "write the nodes as https://... or unset ELASTICSEARCH_CA_CERTS"
        )
    return ElasticsearchAccess(hosts, api_key, username, password, ca_certs)


def _ca_certs(env: dict[str, str]) -> Path | None:
    raw = env.get("ELASTICSEARCH_CA_CERTS", "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigurationError(
            f"ELASTICSEARCH_CA_CERTS={raw!r} cannot be read ({reason}): give the path of the "
            "PEM file of the certificate authority that signed the cluster's certificates"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigurationError(
            f"ELASTICSEARCH_CA_CERTS={raw!r} holds no PEM certificate "
            "(-----BEGIN CERTIFICATE-----): give the cluster's CA file, e.g. config/certs/http_ca.crt"
        )
    return path.resolve()


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
