from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from clients.models import Client, ClientPhoto, WatchTerm
from clients.photos import PhotoError, register_photo


class WatchTermInline(admin.TabularInline):
    model = WatchTerm
    extra = 1


class PhotoForm(forms.ModelForm):
    photo = forms.FileField(
        label=_("Photo"),
        required=False,
        help_text=_("Read in memory and hashed; the photo itself is never stored."),
    )

    class Meta:
        model = ClientPhoto
        fields = ("label",)


class ClientPhotoInline(admin.TabularInline):
    model = ClientPhoto
    form = PhotoForm
    extra = 1
    readonly_fields = ("variants", "created_at")
    fields = ("label", "photo", "variants", "created_at")

    @admin.display(description=_("Hashes"))
    def variants(self, obj: ClientPhoto) -> int:
        return len(obj.pdq_hashes or [])


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("display_name", "reference", "language", "alert_preference", "active")
    list_filter = ("active", "language", "alert_preference", "alert_detail")
    search_fields = ("display_name", "reference", "terms__value")
    prepopulated_fields = {"reference": ("display_name",)}
    inlines = [WatchTermInline, ClientPhotoInline]
    actions = ["erase_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # Hits, alerts, cases and evidence are stored under the reference: changing it would
        # orphan them (and erasure would no longer find them).
        return (*self.readonly_fields, "reference")

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def has_delete_permission(self, request, obj=None):
        # A plain delete would bypass erasure (hits in Elasticsearch, evidence, audit log,
        # legal holds): the erasure action is the only way a client goes.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not request.user.is_superuser:
            actions.pop("erase_selected", None)  # erasure is for the admin role only
        return actions

    @admin.action(description=_("Erase selected clients and all their data (right to erasure)"))
    def erase_selected(self, request, queryset):
        from hits.errors import HitStoreError
        from operations.privacy import erase_client

        if not request.user.is_superuser:
            messages.error(request, _("Only an administrator may erase a client."))
            return
        for client in list(queryset):
            try:
                report = erase_client(client.reference)
            except HitStoreError as exc:
                messages.error(
                    request, f"{client.reference}: nothing erased, Elasticsearch failed ({exc})"
                )
                continue
            kept = report.cases_kept_under_legal_hold
            messages.success(
                request,
                _("%(ref)s erased (%(hits)s hits). Kept under legal hold: %(kept)s")
                % {
                    "ref": client.reference,
                    "hits": report.hits_deleted,
                    "kept": ", ".join(map(str, kept)) or "-",
                },
            )

    def save_formset(self, request, form, formset, change):
        if formset.model is not ClientPhoto:
            return super().save_formset(request, form, formset, change)
        for photo_form in formset.forms:
            if not photo_form.has_changed() or photo_form.cleaned_data.get("DELETE"):
                continue
            upload = photo_form.cleaned_data.get("photo")
            label = photo_form.cleaned_data.get("label")
            if upload is None:
                if photo_form.instance.pk is None:
                    messages.error(request, _("Photo %(label)s: choose a file.") % {"label": label})
                continue
            try:
                result = register_photo(form.instance, label, upload.read())
            except PhotoError as exc:
                messages.error(request, str(exc))
                continue
            finally:
                upload.close()
            messages.success(
                request,
                _("Photo %(label)s registered (%(n)s hashes).")
                % {"label": label, "n": result.variants},
            )
        deleted_objects = []
        for deleted in formset.deleted_forms:
            if deleted.instance.pk:
                deleted_objects.append(deleted.instance)
                deleted.instance.delete()
        # What the admin's change history reads after a formset is saved.
        formset.new_objects, formset.changed_objects = [], []
        formset.deleted_objects = deleted_objects
