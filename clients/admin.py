from django.contrib import admin

from clients.models import Client, WatchTerm


class WatchTermInline(admin.TabularInline):
    model = WatchTerm
    extra = 1


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("display_name", "reference", "language", "alert_preference", "active")
    list_filter = ("active", "language", "alert_preference")
    search_fields = ("display_name", "reference", "terms__value")
    prepopulated_fields = {"reference": ("display_name",)}
    inlines = [WatchTermInline]
