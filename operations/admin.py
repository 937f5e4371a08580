from django.contrib import admin

from operations.models import BackScan


@admin.register(BackScan)
class BackScanAdmin(admin.ModelAdmin):
    """Read-only for staff: when a back-scan ran, how many posts it read, how many hits it made."""

    list_display = (
        "client",
        "status",
        "queued_at",
        "finished_at",
        "posts_read",
        "posts_matched",
        "hits_created",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in BackScan._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
