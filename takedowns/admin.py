from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from takedowns.evidence import export_case
from takedowns.models import AuditEvent, Case, CaseHit, EvidenceAccess


class CaseHitInline(admin.TabularInline):
    """What a case holds, shown only: review decisions, re-check results and delisting are
    recorded by the workbench (takedowns.services), with the audit log and Elasticsearch kept
    in step."""

    model = CaseHit
    extra = 0
    fields = readonly_fields = (
        "hit_id",
        "url",
        "review_status",
        "source_status",
        "source_checked_at",
        "removed_at",
        "delisting",
        "added_at",
    )
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("id", "client", "host", "state", "opened_at", "updated_at")
    list_filter = ("state", "host")
    search_fields = ("client__display_name", "client__reference", "host", "hits__url")
    inlines = [CaseHitInline]
    # The admin only shows cases. Who a case is about, where, its state, legal hold and
    # version change only through takedowns.services (transitions, audit log, optimistic
    # lock): the workbench's case page has the buttons for them. Cases are opened from the
    # review queue and go only through a client's erasure, which honours legal holds.
    readonly_fields = (
        "client",
        "host",
        "state",
        "legal_hold",
        "version",
        "state_changed_at",
        "opened_at",
        "updated_at",
        "client_reference",
        "evidence_pack",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A plain delete would take the case's transitions, notices, re-checks and chain of
        # custody with it, legal hold or not: erasure of the client is the only way a case goes.
        return False

    @admin.display(description=_("Evidence pack"))
    def evidence_pack(self, obj: Case) -> str:
        if obj.pk is None:
            return "-"
        # A POST with the change form's CSRF token: an export is an action, logged in the chain
        # of custody, and a GET link could be triggered from another site.
        return format_html(
            '<button type="submit" class="button" formmethod="post" formaction="{}" '
            "formnovalidate>{}</button>",
            reverse("admin:takedowns_case_export", args=[obj.pk]),
            _("Export the evidence pack (ZIP)"),
        )

    def get_urls(self):
        return [
            path(
                "<int:case_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name="takedowns_case_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest, case_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        case = get_object_or_404(Case, pk=case_id)
        if not self.has_view_permission(request, case):
            return HttpResponse(status=403)
        data = export_case(case.pk, who=request.user.get_username())
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="dossier-{case.pk}.zip"'
        return response


@admin.register(EvidenceAccess)
class EvidenceAccessAdmin(admin.ModelAdmin):
    list_display = ("at", "case", "who", "action")
    readonly_fields = ("case", "who", "action", "at", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "who", "action", "target")
    list_filter = ("action",)
    search_fields = ("who", "target", "detail")
    readonly_fields = ("at", "who", "action", "target", "detail", "redacted")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
