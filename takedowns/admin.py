from django.contrib import admin

from takedowns.models import Case, CaseHit


class CaseHitInline(admin.TabularInline):
    model = CaseHit
    extra = 0
    readonly_fields = ("hit_id", "url", "added_at")
    can_delete = False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("id", "client", "host", "state", "opened_at", "updated_at")
    list_filter = ("state", "host")
    search_fields = ("client__display_name", "client__reference", "host", "hits__url")
    inlines = [CaseHitInline]
    readonly_fields = ("opened_at", "updated_at")
