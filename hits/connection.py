"""The one place an Elasticsearch client is made: every store reaches the cluster's nodes with
the same credentials and CA (ELASTICSEARCH_* variables, read by :mod:`config.environment`)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from config.environment import ElasticsearchAccess

__all__ = ["ElasticsearchAccess", "configured_access", "connect"]


def configured_access() -> ElasticsearchAccess:
    """This process's cluster: Django's setting when Django runs (tests override it), else the
    environment read at start-up."""
    from django.conf import settings

    if settings.configured and hasattr(settings, "BODYGUARD_ELASTICSEARCH"):
        access = settings.BODYGUARD_ELASTICSEARCH
        if isinstance(access, ElasticsearchAccess):
            return access
    from config.environment import ENV

    return ENV.elasticsearch


def connect(target: ElasticsearchAccess | str, timeout_s: float) -> Elasticsearch:
    """A client for ``target``: an access, or node URLs (comma-separated) reached with the
    configured credentials and CA."""
    access = (
        target if isinstance(target, ElasticsearchAccess) else configured_access().with_url(target)
    )
    tls: dict[str, Any] = {"ca_certs": str(access.ca_certs)} if access.ca_certs else {}
    return Elasticsearch(
        list(access.hosts),
        api_key=access.api_key or None,
        basic_auth=(access.username, access.password) if access.username else None,
        request_timeout=timeout_s,
        # A failed request is tried once more, on another node when there are several: a dead
        # node of a cluster costs one attempt, not the operation. Sniffing stays off: the
        # nodes' published addresses are often not reachable from here (containers, proxies).
        max_retries=max(1, len(access.hosts) - 1),
        retry_on_timeout=False,
        **tls,
    )
