"""The French interface: every message translated, and the compiled catalogue up to date."""

from __future__ import annotations

import ast
import gettext

from config.environment import BASE_DIR

PO = BASE_DIR / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _entries() -> list[dict[str, str]]:
    """(msgctxt, msgid, msgstr) of the live entries; obsolete ones (#~) are left out."""
    entries: list[dict[str, str]] = []
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            for key in ("msgctxt", "msgid_plural", "msgid", "msgstr"):
                if line.startswith(key + " "):
                    current = key
                    fields[key] = ast.literal_eval(line[len(key) + 1 :])
                    break
            else:
                if line.startswith('"') and current:
                    fields[current] += ast.literal_eval(line)
        if fields.get("msgid"):
            fields["fuzzy"] = "yes" if fuzzy else ""
            entries.append(fields)
    return entries


def test_every_message_has_a_french_translation():
    untranslated = [e["msgid"] for e in _entries() if not e.get("msgstr") or e["fuzzy"]]
    assert not untranslated


def test_the_compiled_catalogue_matches_the_sources():
    """`make messages` compiles it; a .po edited without compiling shows up here."""
    with open(MO, "rb") as stream:
        catalogue = gettext.GNUTranslations(stream)
    stale = []
    for entry in _entries():
        if "msgctxt" in entry:
            shown = catalogue.pgettext(entry["msgctxt"], entry["msgid"])
        else:
            shown = catalogue.gettext(entry["msgid"])
        if shown != entry["msgstr"]:
            stale.append(entry["msgid"])
    assert not stale
