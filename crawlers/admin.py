from django.contrib import admin

from crawlers.models import CrawlRun


@admin.register(CrawlRun)
class CrawlRunAdmin(admin.ModelAdmin):
    list_display = (
        "source_id",
        "started_at",
        "finished_at",
        "status",
        "pages",
        "items",
        "hits",
        "new_hits",
        "errors",
    )
    list_filter = ("status", "source_id")
    readonly_fields = [f.name for f in CrawlRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
