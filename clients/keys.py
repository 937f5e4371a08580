"""The key that seals registered photos' local features at rest.

Production sets ``BODYGUARD_FEATURES_KEY`` (read once by config.environment). In development a
random key is generated into ``var/features.key`` on first use (mode 0600, never committed:
var/ is ignored), so a fresh checkout works without set-up.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.conf import settings

from matching.features import KEY_BYTES

DEV_KEY_FILE = "features.key"


class FeatureKeyMissing(RuntimeError):
    pass


def _decode(raw: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise FeatureKeyMissing(f"{where} must hold the base64 of {KEY_BYTES} bytes")
    return key


def features_key() -> bytes:
    configured = getattr(settings, "BODYGUARD_FEATURES_KEY", "")
    if configured:
        return _decode(configured, "BODYGUARD_FEATURES_KEY")
    path = Path(settings.BODYGUARD_VAR_DIR) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
    return _decode(path.read_text(), f"the development key {path}")
