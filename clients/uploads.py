"""Uploaded files stay in memory: a client's photo or video is never written to a temporary file.

Django's default handlers spool any upload above FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary
file on disk, and its MemoryFileUploadHandler alone silently drops such a file (the form then
says "choose a file"). This handler keeps every file of a request in memory, up to a budget for
the whole request; a file that does not fit is read through and thrown away as it arrives, and
reaches the form as an :class:`OversizedUpload`, which the form refuses with the limit
(:func:`refuse_oversized`): the staff member hears why, and nothing touched the disk.

Signed-in staff register videos (a few minutes of phone video, hundreds of MB):
``BODYGUARD_UPLOAD_MAX_BYTES``. Any other request (the sign-in page, a client's preference page)
keeps Django's ``FILE_UPLOAD_MAX_MEMORY_SIZE``, so nobody can make the server hold hundreds of
MB before signing in.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _


class OversizedUpload(UploadedFile):
    """A file that did not fit in the request's memory budget: its name and size, no content."""

    def __init__(self, name: str, content_type: str, size: int, limit: int, **extra: Any):
        super().__init__(io.BytesIO(), name, content_type, size, extra.get("charset"))
        self.limit = limit


def upload_budget(request: Any) -> int:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return int(settings.BODYGUARD_UPLOAD_MAX_BYTES)
    return int(settings.FILE_UPLOAD_MAX_MEMORY_SIZE)


class InMemoryUploadHandler(FileUploadHandler):
    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.budget = upload_budget(request)
        self.used = 0  # bytes of this request's earlier files kept in memory
        self.buffer: io.BytesIO | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.buffer is not None:
            if self.used + start + len(raw_data) > self.budget:
                self.buffer = None  # what was read so far is dropped with it
            else:
                self.buffer.write(raw_data)
        return None  # no other handler: nothing else may spool it to disk

    def file_complete(self, file_size: int) -> UploadedFile:
        if self.buffer is None:
            return OversizedUpload(
                self.file_name or "", self.content_type or "", file_size, self.budget
            )
        self.used += file_size
        self.buffer.seek(0)
        kept, self.buffer = self.buffer, None
        return InMemoryUploadedFile(
            file=kept,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}"


def refuse_oversized(upload: Any) -> None:
    """A form field's check: the file that did not fit in memory, refused with the limit."""
    if isinstance(upload, OversizedUpload):
        raise forms.ValidationError(
            _(
                "%(name)s is too large (%(size)s MB): a form may send at most %(limit)s MB of "
                "files. Trim or compress it, or send the files one form at a time."
            )
            % {
                "name": upload.name,
                "size": megabytes(upload.size or 0),
                "limit": megabytes(upload.limit),
            }
        )
