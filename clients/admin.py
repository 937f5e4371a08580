from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from clients.hashlists import HashListError, export_hash_list, import_hash_list
from clients.models import Client, ClientPhoto, ClientVideo, WatchTerm
from clients.photos import PhotoError, register_photo
from clients.uploads import refuse_oversized
from clients.videos import VideoRegistrationError, fix_text, register_video


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

    def clean_photo(self):
        upload = self.cleaned_data.get("photo")
        refuse_oversized(upload)
        return upload


class ClientPhotoInline(admin.TabularInline):
    model = ClientPhoto
    form = PhotoForm
    extra = 1
    readonly_fields = ("variants", "created_at")
    fields = ("label", "photo", "variants", "created_at")

    @admin.display(description=_("Hashes"))
    def variants(self, obj: ClientPhoto) -> int:
        return len(obj.pdq_hashes or [])


class VideoForm(forms.ModelForm):
    video = forms.FileField(
        label=_("Video"),
        required=False,
        help_text=_(
            "Read in memory and hashed (MD5 and frame fingerprints); the video itself is never "
            "stored."
        ),
    )

    class Meta:
        model = ClientVideo
        fields = ("label",)

    def clean_video(self):
        upload = self.cleaned_data.get("video")
        refuse_oversized(upload)
        return upload


class ClientVideoInline(admin.TabularInline):
    """A client's videos, by what is kept of them: never a frame, never a thumbnail."""

    model = ClientVideo
    form = VideoForm
    extra = 1
    verbose_name = _("Video")
    verbose_name_plural = _("Videos")
    readonly_fields = ("duration", "frames", "md5_hex", "created_at")
    fields = ("label", "video", "duration", "frames", "md5_hex", "created_at")

    @admin.display(description=_("Duration"))
    def duration(self, obj: ClientVideo) -> str:
        if obj.pk is None:
            return "-"
        return f"{obj.duration_s:.1f} s" if obj.duration_s else "-"

    @admin.display(description=_("Frames hashed"))
    def frames(self, obj: ClientVideo) -> int:
        return len(obj.frame_hashes or [])

    @admin.display(description="MD5")
    def md5_hex(self, obj: ClientVideo) -> str:
        return obj.md5 or "-"


class HashListImportForm(forms.Form):
    hash_list = forms.FileField(
        label=_("Hash list"),
        help_text=_(
            "CSV, one signal a line: signal_type,signal,quality,label (pdq, video_md5, vpdq)."
        ),
    )

    def clean_hash_list(self):
        upload = self.cleaned_data.get("hash_list")
        refuse_oversized(upload)
        return upload


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("display_name", "reference", "language", "alert_preference", "active")
    list_filter = ("active", "language", "alert_preference", "alert_detail")
    search_fields = ("display_name", "reference", "terms__value")
    prepopulated_fields = {"reference": ("display_name",)}
    inlines = [WatchTermInline, ClientPhotoInline, ClientVideoInline]
    actions = ["erase_selected", "export_hashes", "import_hashes"]

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

    @admin.action(
        description=_("Export the hash list (for StopNCII-style programmes)"),
        permissions=["change"],
    )
    def export_hashes(self, request, queryset):
        clients = list(queryset[:2])
        if len(clients) != 1:
            messages.error(request, _("Select one client: a hash list is one person's."))
            return None
        client = clients[0]
        report = export_hash_list(client, request.user.get_username())
        response = HttpResponse(report.text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{client.reference}-hashes.csv"'
        return response

    @admin.action(
        description=_("Import a partner's hash list to watch for"), permissions=["change"]
    )
    def import_hashes(self, request, queryset):
        clients = list(queryset[:2])
        if len(clients) != 1:
            messages.error(request, _("Select one client: a hash list is one person's."))
            return None
        client = clients[0]
        form = HashListImportForm()
        if "apply" in request.POST:
            form = HashListImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["hash_list"]
                try:
                    report = import_hash_list(
                        client, upload.read(), request.user.get_username(), upload.name
                    )
                except HashListError as exc:
                    form.add_error("hash_list", str(exc))
                else:
                    messages.success(
                        request,
                        _(
                            "%(ref)s: %(read)s signals read, %(photos)s photos and %(videos)s "
                            "videos added, %(skipped)s already watched."
                        )
                        % {
                            "ref": client.reference,
                            "read": report.read,
                            "photos": len(report.photos_added),
                            "videos": len(report.videos_added),
                            "skipped": report.already_watched,
                        },
                    )
                    for error in report.retro_errors:
                        messages.warning(
                            request,
                            _("Past crawls not searched (%(why)s); the crawls will still match.")
                            % {"why": error},
                        )
                    return None
                finally:
                    upload.close()
        return TemplateResponse(
            request,
            "admin/clients/client/import_hashes.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Import a hash list"),
                "opts": self.model._meta,
                "client": client,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is ClientVideo:
            return self._save_videos(request, form, formset)
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

    def _save_videos(self, request, form, formset):
        """Each uploaded video is fingerprinted in memory (clients.videos); a new label on a
        registered video renames it; a ticked "delete" removes its hashes."""
        for video_form in formset.forms:
            if not video_form.has_changed() or video_form.cleaned_data.get("DELETE"):
                continue
            upload = video_form.cleaned_data.get("video")
            label = video_form.cleaned_data.get("label")
            instance = video_form.instance
            if upload is None:
                if instance.pk is None:
                    messages.error(request, _("Video %(label)s: choose a file.") % {"label": label})
                elif "label" in video_form.changed_data:
                    instance.save(update_fields=["label"])
                continue
            try:
                result = register_video(form.instance, label, upload.read())
            except VideoRegistrationError as exc:
                messages.error(
                    request,
                    _("Video %(label)s not registered: %(reason)s. To fix: %(fix)s.")
                    % {"label": label, "reason": exc.reason, "fix": fix_text(exc.fix)},
                )
                continue
            finally:
                upload.close()
            if instance.pk is not None and instance.pk != result.video_id:
                instance.delete()  # a new file under a new label replaces the old video
            messages.success(
                request,
                _("Video %(label)s registered (%(frames)s frames hashed, %(duration)s s).")
                % {"label": label, "frames": result.frames, "duration": f"{result.duration_s:.0f}"},
            )
            if result.retro_error:
                messages.warning(
                    request,
                    _("Past crawls not searched (%(why)s); the crawls will still match.")
                    % {"why": result.retro_error},
                )
        deleted_objects = []
        for deleted in formset.deleted_forms:
            if deleted.instance.pk:
                deleted_objects.append(deleted.instance)
                deleted.instance.delete()
        formset.new_objects, formset.changed_objects = [], []
        formset.deleted_objects = deleted_objects
