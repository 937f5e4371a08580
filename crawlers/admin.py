from django.contrib import admin

from crawlers.models import CrawlNode, CrawlRun


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
        "node",
    )
    list_filter = ("status", "source_id", "node")
    readonly_fields = [f.name for f in CrawlRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CrawlNode)
class CrawlNodeAdmin(admin.ModelAdmin):
    """Scrapyd nodes as the monitor last saw them (BODYGUARD_SCRAPYD_URLS)."""

    list_display = ("url", "answering", "checked_at", "jobs", "error")
    readonly_fields = [f.name for f in CrawlNode._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
