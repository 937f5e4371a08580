"""Pure matching library: text in, names found; no I/O, no Django, no Elasticsearch."""
