"""Hash lists: a client's registered hashes out (to StopNCII / Take It Down style programmes),
a partner's list in (a victim who already hashed her photos and videos elsewhere).

One signal a line, CSV (docs/hash-lists.md, docs/adr/0020-hash-lists.md)::

    signal_type,signal,quality,label
    pdq,<64 hex digits>,<0-100>,photo 1
    video_md5,<32 hex digits>,,video 1
    vpdq,"[""<64 hex>,<quality>,<seconds>"", ...]",,video 1

The signal type names are python-threatexchange's / HMA's (``pdq``, ``video_md5``, ``vpdq``,
the vPDQ signal serialized as threatexchange does); StopNCII's ``ImagePDQ`` and ``VideoMD5``
are read as ``pdq`` and ``video_md5``. Only hashes ever leave or enter: never an image, never
the sealed local features of a photo.

An import is validated whole before anything is written, then written in one transaction:
a file with one bad line changes nothing, and the error names every bad line and what to fix.
What the client already has is never overwritten: a signal already watched is skipped, a label
already used for other hashes is an error. Export and import are written to the audit log.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import transaction

from clients.models import Client, ClientPhoto, ClientVideo
from takedowns.services import audit

HEADER = ("signal_type", "signal", "quality", "label")
# A partner's list is a few thousand lines at most; beyond this it is not a hash list.
MAX_BYTES = 20 * 1024 * 1024
MAX_LINES = 200_000
# Frames of one vpdq signal (two hours at one frame per second).
MAX_VPDQ_FRAMES = 7200
# Errors listed in one message; the count of the others follows.
MAX_ERRORS_SHOWN = 20
LABEL_MAX = 200

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SignalType(StrEnum):
    PDQ = "pdq"
    VIDEO_MD5 = "video_md5"
    VPDQ = "vpdq"


# Names other tools give the same signals (StopNCII's, ThreatExchange indicator types).
_ALIASES = {
    "pdq": SignalType.PDQ,
    "imagepdq": SignalType.PDQ,
    "image_pdq": SignalType.PDQ,
    "hash_pdq": SignalType.PDQ,
    "video_md5": SignalType.VIDEO_MD5,
    "videomd5": SignalType.VIDEO_MD5,
    "hash_video_md5": SignalType.VIDEO_MD5,
    "vpdq": SignalType.VPDQ,
    "video_vpdq": SignalType.VPDQ,
}
_KNOWN = ", ".join(sorted({str(t) for t in SignalType}))


class HashListError(ValueError):
    """A list that was not imported: every bad line, with its number and what to fix."""

    def __init__(self, problems: Sequence[tuple[int, str]], where: str = ""):
        self.problems = list(problems)
        shown = [
            f"line {n}: {message}" if n else message
            for n, message in self.problems[:MAX_ERRORS_SHOWN]
        ]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more")
        head = f"{where}: " if where else ""
        super().__init__(f"{head}nothing imported; " + "; ".join(shown))


@dataclass(frozen=True)
class Frame:
    at: float
    pdq: str
    quality: int

    def row(self) -> list[object]:
        return [round(self.at, 3), self.pdq, self.quality]


@dataclass(frozen=True)
class Signal:
    type: SignalType
    value: str  # pdq and video_md5: lowercase hex; vpdq: threatexchange's JSON list
    quality: int | None = None
    label: str = ""
    line: int = 0
    frames: tuple[Frame, ...] = ()


def actor_of_command() -> str:
    """Who ran a management command, for the audit log: the operating-system user."""
    try:
        return f"command:{getpass.getuser()}"
    except (OSError, KeyError):
        return "command"


# --- Export -----------------------------------------------------------------------------


def vpdq_signal(frames: Iterable[Frame]) -> str:
    """threatexchange's vPDQ serialization: a JSON list of "hex,quality,seconds" strings."""
    return json.dumps([f"{f.pdq},{f.quality},{f.at:.3f}" for f in frames])


def client_signals(client: Client) -> list[Signal]:
    """What a client is watched for, as signals: each photo's base hash (the PDQ of the photo
    as registered, first of its variants) and quality; each video's MD5 and frame hashes.
    Never a photo's variants beyond the first, never its sealed features."""
    signals: list[Signal] = []
    for photo in client.photos.order_by("label"):
        if photo.pdq_hashes:
            signals.append(
                Signal(SignalType.PDQ, str(photo.pdq_hashes[0]), photo.quality, photo.label)
            )
    for video in client.videos.order_by("label"):
        if video.md5:
            signals.append(Signal(SignalType.VIDEO_MD5, video.md5, None, video.label))
        frames = [Frame(float(t), str(h), int(q)) for t, h, q in video.frame_hashes]
        if frames:
            signals.append(Signal(SignalType.VPDQ, vpdq_signal(frames), None, video.label))
    return signals


def render(signals: Iterable[Signal]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for s in signals:
        writer.writerow([s.type, s.value, "" if s.quality is None else s.quality, s.label])
    return out.getvalue()


@dataclass(frozen=True)
class ExportReport:
    text: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[str(t)]} {t}" for t in SignalType if counts[str(t)]) or "0 signals"


def export_hash_list(
    client: Client, who: str, types: Iterable[SignalType] = tuple(SignalType)
) -> ExportReport:
    wanted = set(types)
    signals = [s for s in client_signals(client) if s.type in wanted]
    counts = Counter(str(s.type) for s in signals)
    audit(who, "export_hashes", f"client:{client.reference}", f"out: {_counted(counts)}")
    return ExportReport(render(signals), dict(counts))


# --- Import -----------------------------------------------------------------------------


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_BYTES:
        raise HashListError(
            [(0, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HashListError(
            [(line, "not UTF-8 text: save the list as UTF-8 CSV (one signal a line)")]
        ) from None


def _fields(row: list[str]) -> list[str]:
    fields = [f.strip() for f in row]
    # threatexchange's own output: "pdq <hex>", space-separated.
    if len(fields) == 1 and len(fields[0].split()) == 2:
        fields = fields[0].split()
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def _label(raw: str, line: int, problems: list[tuple[int, str]]) -> str:
    label = _CONTROL.sub(" ", raw).strip()
    if len(label) > LABEL_MAX:
        problems.append(
            (line, f"the label is longer than {LABEL_MAX} characters: shorten it or leave it empty")
        )
    return label


def _quality(raw: str, line: int, problems: list[tuple[int, str]]) -> int | None:
    if raw == "":
        return None
    try:
        quality = int(raw)
    except ValueError:
        quality = -1
    if not 0 <= quality <= 100:
        problems.append(
            (line, f"quality {raw[:20]!r} is not a whole number from 0 to 100: fix or empty it")
        )
        return None
    return quality


def _frames(raw: str, line: int, problems: list[tuple[int, str]]) -> tuple[Frame, ...]:
    fix = 'a vpdq signal is a JSON list of "pdq hex,quality,seconds" strings (threatexchange)'
    try:
        items = json.loads(raw)
    except ValueError:
        problems.append((line, f"the vpdq signal is not JSON: {fix}"))
        return ()
    if not isinstance(items, list) or not items:
        problems.append((line, f"the vpdq signal is empty or not a list: {fix}"))
        return ()
    if len(items) > MAX_VPDQ_FRAMES:
        problems.append((line, f"the vpdq signal has more than {MAX_VPDQ_FRAMES} frames"))
        return ()
    frames = []
    for n, item in enumerate(items, 1):
        parts = item.split(",") if isinstance(item, str) else []
        try:
            pdq, quality, at = (p.strip() for p in parts)
            frame = Frame(float(at), pdq.lower(), int(quality))
            if not (_HEX64.match(frame.pdq) and 0 <= frame.quality <= 100 and frame.at >= 0):
                raise ValueError
        except ValueError:
            problems.append((line, f"frame {n} of the vpdq signal is {item!r:.90}: {fix}"))
            return ()
        frames.append(frame)
    return tuple(sorted(frames, key=lambda f: f.at))


def parse_hash_list(data: bytes | str) -> list[Signal]:
    """Every signal of the list, or a HashListError naming each bad line."""
    text = _decode(data)
    problems: list[tuple[int, str]] = []
    signals: list[Signal] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            if line > MAX_LINES:
                problems.append((line, f"more than {MAX_LINES} lines: split the list"))
                break
            fields = _fields(row)
            if not fields or fields[0].startswith("#"):
                continue
            if [f.lower() for f in fields[:2]] == list(HEADER[:2]):
                continue  # the header, wherever a list repeats it
            signal = _signal(fields, line, problems)
            if signal is not None:
                signals.append(signal)
    except csv.Error as exc:
        problems.append((reader.line_num, f"not CSV ({exc}): check the quotes on this line"))
    if not signals and not problems:
        problems.append((0, f"no signal in the list (expected lines like: {','.join(HEADER)})"))
    _check_labels(signals, problems)
    if problems:
        raise HashListError(sorted(problems, key=lambda p: p[0]))
    return signals


def _signal(fields: list[str], line: int, problems: list[tuple[int, str]]) -> Signal | None:
    if len(fields) < 2:
        problems.append(
            (line, f"expected signal_type,signal[,quality[,label]]; got {','.join(fields)[:80]!r}")
        )
        return None
    if len(fields) > 4:
        problems.append((line, "more than 4 fields: put a label with commas between double quotes"))
        return None
    kind = _ALIASES.get(fields[0].lower())
    if kind is None:
        problems.append((line, f"unknown signal type {fields[0][:40]!r}: use one of {_KNOWN}"))
        return None
    before = len(problems)
    value = fields[1].lower()
    quality = _quality(fields[2] if len(fields) > 2 else "", line, problems)
    label = _label(fields[3] if len(fields) > 3 else "", line, problems)
    frames: tuple[Frame, ...] = ()
    if kind is SignalType.PDQ and not _HEX64.match(value):
        problems.append(
            (
                line,
                f"a pdq signal is 64 hexadecimal digits, got {fields[1][:80]!r} ({len(fields[1])} characters)",
            )
        )
    elif kind is SignalType.VIDEO_MD5 and not _HEX32.match(value):
        problems.append(
            (
                line,
                f"a video_md5 signal is 32 hexadecimal digits, got {fields[1][:80]!r} ({len(fields[1])} characters)",
            )
        )
    elif kind is SignalType.VPDQ:
        frames = _frames(fields[1], line, problems)
        value = vpdq_signal(frames)
    if len(problems) > before:
        return None
    return Signal(kind, value, quality, label, line, frames)


def _check_labels(signals: list[Signal], problems: list[tuple[int, str]]) -> None:
    """A label names one photo, or one video (its video_md5 line and its vpdq line)."""
    seen: dict[tuple[str, str], int] = {}
    for s in signals:
        if not s.label:
            continue
        key = ("photo" if s.type is SignalType.PDQ else str(s.type), s.label)
        if key in seen:
            what = "photos" if s.type is SignalType.PDQ else f"{s.type} signals"
            problems.append(
                (
                    s.line,
                    f"label {s.label!r} is given to two {what} (lines {seen[key]} and {s.line}): "
                    "give each its own label, or leave the labels empty",
                )
            )
        else:
            seen[key] = s.line


@dataclass
class _Video:
    label: str
    md5: str = ""
    frames: tuple[Frame, ...] = ()
    lines: list[int] = field(default_factory=list)


def _videos(signals: Iterable[Signal]) -> list[_Video]:
    """video_md5 and vpdq lines, one video per label (unlabelled lines: one video each)."""
    by_label: dict[str, _Video] = {}
    videos: list[_Video] = []
    for s in signals:
        if s.type is SignalType.PDQ:
            continue
        video = by_label.get(s.label) if s.label else None
        if video is None:
            video = _Video(s.label)
            videos.append(video)
            if s.label:
                by_label[s.label] = video
        if s.type is SignalType.VIDEO_MD5:
            video.md5 = s.value
        else:
            video.frames = s.frames
        video.lines.append(s.line)
    return videos


@dataclass
class ImportReport:
    read: int = 0
    photos_added: list[str] = field(default_factory=list)
    videos_added: list[str] = field(default_factory=list)
    # Signals the client was already watched for (same hash, or same label and hashes).
    already_watched: int = 0
    retro_hits: int = 0
    retro_errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.read} signal(s) read: {len(self.photos_added)} photo(s) and "
            f"{len(self.videos_added)} video(s) added, {self.already_watched} already watched"
        )


def _free_label(prefix: str, taken: set[str]) -> str:
    n = 1
    while f"{prefix} {n}" in taken:
        n += 1
    label = f"{prefix} {n}"
    taken.add(label)
    return label


@dataclass
class _Plan:
    photos: list[ClientPhoto] = field(default_factory=list)
    new_videos: list[ClientVideo] = field(default_factory=list)
    filled_videos: list[ClientVideo] = field(default_factory=list)
    skipped: int = 0


def _plan(client: Client, signals: list[Signal]) -> _Plan:
    """What the import writes, checked against what the client has; HashListError else."""
    problems: list[tuple[int, str]] = []
    plan = _Plan()
    photos = {p.label: p for p in client.photos.all()}
    watched_pdq = {str(h) for p in photos.values() for h in p.pdq_hashes}
    # Labels the list gives are taken before any is generated for an unlabelled line.
    photo_labels = set(photos) | {s.label for s in signals if s.type is SignalType.PDQ}
    for s in signals:
        if s.type is not SignalType.PDQ:
            continue
        known_photo = photos.get(s.label) if s.label else None
        if known_photo is not None:
            if s.value in known_photo.pdq_hashes:
                plan.skipped += 1
            else:
                problems.append(
                    (
                        s.line,
                        f"the client already has a photo labelled {s.label!r} with other hashes: "
                        "rename it in the list, or leave the label empty",
                    )
                )
            continue
        if s.value in watched_pdq:
            plan.skipped += 1
            continue
        watched_pdq.add(s.value)
        label = s.label or _free_label("photo", photo_labels)
        plan.photos.append(
            ClientPhoto(
                client=client,
                label=label,
                pdq_hashes=[s.value],
                quality=s.quality or 0,
                sealed_features=None,
            )
        )
    videos = {v.label: v for v in client.videos.all()}
    watched_md5 = {v.md5 for v in videos.values() if v.md5}
    watched_frames = [v.frame_hashes for v in videos.values() if v.frame_hashes]
    listed = _videos(signals)
    video_labels = set(videos) | {v.label for v in listed if v.label}
    for video in listed:
        rows = [f.row() for f in video.frames]
        known = videos.get(video.label) if video.label else None
        if known is not None:
            md5_clash = bool(video.md5 and known.md5 and video.md5 != known.md5)
            frames_clash = bool(rows and known.frame_hashes and rows != known.frame_hashes)
            if md5_clash or frames_clash:
                problems.append(
                    (
                        video.lines[0],
                        f"the client already has a video labelled {video.label!r} with other "
                        "hashes: rename it in the list, or leave the label empty",
                    )
                )
                continue
            # The same video: what the list adds (its MD5, or its frames) fills the record in.
            if (video.md5 and not known.md5) or (rows and not known.frame_hashes):
                known.md5 = known.md5 or video.md5
                known.frame_hashes = known.frame_hashes or rows
                plan.filled_videos.append(known)
            else:
                plan.skipped += len(video.lines)
            continue
        if (video.md5 and video.md5 in watched_md5) or (rows and rows in watched_frames):
            plan.skipped += len(video.lines)  # another of her videos has these hashes
            continue
        if video.md5:
            watched_md5.add(video.md5)
        if rows:
            watched_frames.append(rows)
        label = video.label or _free_label("video", video_labels)
        duration = max((f.at for f in video.frames), default=0.0)
        plan.new_videos.append(
            ClientVideo(
                client=client,
                label=label,
                md5=video.md5,
                frame_hashes=rows,
                variant_hashes=[],
                duration_s=round(duration, 3),
            )
        )
    if problems:
        raise HashListError(problems)
    return plan


def check_hash_list(client: Client, data: bytes | str, source: str = "") -> ImportReport:
    """What importing the list would do, without writing anything (HashListError if bad)."""
    try:
        signals = parse_hash_list(data)
        plan = _plan(client, signals)
    except HashListError as exc:
        raise HashListError(exc.problems, source or client.reference) from None
    return ImportReport(
        read=len(signals),
        photos_added=[p.label for p in plan.photos],
        videos_added=[v.label for v in [*plan.new_videos, *plan.filled_videos]],
        already_watched=plan.skipped,
    )


def import_hash_list(
    client: Client, data: bytes | str, who: str, source: str = "", retro: bool = True
) -> ImportReport:
    """Read a partner's list into ``client``: all of it, or nothing (HashListError)."""
    try:
        signals = parse_hash_list(data)
        with transaction.atomic():
            plan = _plan(client, signals)
            ClientPhoto.objects.bulk_create(plan.photos)
            ClientVideo.objects.bulk_create(plan.new_videos)
            for video in plan.filled_videos:
                video.save(update_fields=["md5", "frame_hashes"])
            counts = Counter(str(s.type) for s in signals)
            report = ImportReport(
                read=len(signals),
                photos_added=[p.label for p in plan.photos],
                videos_added=[v.label for v in [*plan.new_videos, *plan.filled_videos]],
                already_watched=plan.skipped,
            )
            audit(
                who,
                "import_hashes",
                f"client:{client.reference}",
                f"in{f' from {source}' if source else ''}: {_counted(counts)}; "
                f"{len(plan.photos)} photo(s) and {len(report.videos_added)} video(s) added, "
                f"{plan.skipped} already watched",
            )
    except HashListError as exc:
        raise HashListError(exc.problems, source or client.reference) from None
    if retro:
        _retro_match(client, report)
    return report


def _retro_match(client: Client, report: ImportReport) -> None:
    """Images and videos crawled before the import, against the imported hashes."""
    from clients.photos import run_retro_match as photo_retro
    from clients.videos import run_retro_match as video_retro
    from hits.errors import HitStoreError

    for photo in client.photos.filter(label__in=report.photos_added):
        try:
            report.retro_hits += photo_retro(photo).hits_created
        except HitStoreError as exc:
            report.retro_errors.append(f"photo {photo.label!r}: {exc}")
            return  # Elasticsearch is out of reach: the crawls will still match
    for video in client.videos.filter(label__in=report.videos_added):
        try:
            report.retro_hits += video_retro(video).hits_created
        except HitStoreError as exc:
            report.retro_errors.append(f"video {video.label!r}: {exc}")
            return
