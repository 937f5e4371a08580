class HitStoreError(Exception):
    """Elasticsearch refused an operation (bad mapping, bad query): a bug or a config error."""


class HitStoreUnavailable(HitStoreError):
    """Elasticsearch cannot be reached or is overloaded: retry later, lose nothing."""
