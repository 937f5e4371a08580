from django.contrib import admin

from alerts.models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("client", "host", "match_kind", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "match_kind", "source_id")
    search_fields = ("client__display_name", "client__reference", "host")
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):
        return False
