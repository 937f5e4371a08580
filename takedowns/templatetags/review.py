"""Labels for hit fields that are stored as codes."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from takedowns.views import severity_labels, status_labels

register = template.Library()


@register.filter
def status_label(code: str) -> str:
    return status_labels().get(code, code)


@register.filter
def severity_label(level: int) -> str:
    return severity_labels().get(int(level), str(level))


@register.filter
def tier_label(tier: str) -> str:
    return {"strong": _("strong"), "candidate": _("candidate")}.get(tier, tier)
