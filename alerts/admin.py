from django.contrib import admin

from alerts.models import Alert, Delivery


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("client", "host", "match_kind", "severity", "status", "created_at", "sent_at")
    list_filter = ("status", "match_kind", "severity", "source_id")
    search_fields = ("client__display_name", "client__reference", "host")
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    # An alert is the record that a hit was told to the client: deleted, the hit would look new
    # again and she would be told twice. Erasure removes a client's alerts with her.
    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("client", "kind", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("client__display_name", "client__reference", "idempotency_key")
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
