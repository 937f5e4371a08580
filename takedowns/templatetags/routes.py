"""The notice form's choices for each route (Google request types, PHAROS categories...)."""

from __future__ import annotations

from django import template

from takedowns import notices

register = template.Library()

_TABLES = {
    "google": notices.GOOGLE_TYPES,
    "doxxing": notices.DOXXING_KINDS,
    "capacity": notices.SIGNATORY_CAPACITIES,
    "pharos": notices.PHAROS_CATEGORIES,
}


@register.simple_tag
def route_choices(name: str) -> list[tuple[str, str]]:
    if name == "case":
        return [(str(r.value), str(r.label)) for r in notices.CASE_ROUTES]
    return notices.choices(_TABLES[name])
