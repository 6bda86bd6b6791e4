"""The audit log's vocabulary: every action an entry may name (``kiosk.services.audit.record``
refuses any other), as dotted ``<area>.<verb>`` words, each with the words a person reads for it
on the console (``label``, translated where it is shown). Add one here before recording it; the
docs (docs/audit.md) list them with what their before/after hold."""

from __future__ import annotations

from ..languages import mark

_LABELS: dict[str, str] = {}


def _action(name: str, label: str) -> str:
    """Declares an action and what the console calls it; returns the name the log stores."""
    _LABELS[name] = label
    return name


# People
PERSON_CREATED = _action("person.created", mark("Person added"))
PERSON_RENAMED = _action("person.renamed", mark("Person renamed"))
PERSON_ACTIVATED = _action("person.activated", mark("Person activated"))
PERSON_DEACTIVATED = _action("person.deactivated", mark("Person deactivated"))
PERSON_DELETED = _action("person.deleted", mark("Person deleted"))
# Faces
PHOTO_ENROLLED = _action("photo.enrolled", mark("Photos added"))
PHOTO_REMOVED = _action("photo.removed", mark("Photo removed"))
LEARNED_REMOVED = _action("learned.removed", mark("Faces learned at the kiosk removed"))
# Models
MODEL_RETRAINED = _action("model.retrained", mark("Recognition updated"))
GESTURE_SAMPLE_RECORDED = _action("gesture.sample_recorded", mark("Gesture sample recorded"))
GESTURE_SAMPLES_DELETED = _action("gesture.samples_deleted", mark("Gesture samples deleted"))
# Bulk import
IMPORT_STARTED = _action("import.started", mark("Import started"))
IMPORT_FINISHED = _action("import.finished", mark("Import finished"))
IMPORT_DISCARDED = _action("import.discarded", mark("Import discarded"))
# Attendance
ATTENDANCE_MEMO_CHANGED = _action("attendance.memo_changed", mark("Check-in memo changed"))
ATTENDANCE_DELETED = _action("attendance.deleted", mark("Check-in deleted"))
# Punch corrections (kiosk.services.corrections): each is a new revision of the punch
PUNCH_ADDED = _action("punch.added", mark("Punch added"))
PUNCH_CHANGED = _action("punch.changed", mark("Punch corrected"))
PUNCH_REMOVED = _action("punch.removed", mark("Punch removed"))
# Groups, schedules and holidays
GROUP_CREATED = _action("group.created", mark("Group added"))
GROUP_DELETED = _action("group.deleted", mark("Group removed"))
PERSON_GROUP_CHANGED = _action("person.group_changed", mark("Person's group changed"))
SCHEDULE_CHANGED = _action("schedule.changed", mark("Schedule changed"))
HOLIDAY_ADDED = _action("holiday.added", mark("Holiday added"))
HOLIDAY_REMOVED = _action("holiday.removed", mark("Holiday removed"))
EXPORT_DOWNLOADED = _action("export.downloaded", mark("Export downloaded"))
RETENTION_PURGED = _action("retention.purged", mark("Old data purged"))
# Kiosk devices
DEVICE_ADDED = _action("device.added", mark("Kiosk added"))
DEVICE_ROTATED = _action("device.rotated", mark("Kiosk key renewed"))
DEVICE_REVOKED = _action("device.revoked", mark("Kiosk revoked"))
DEVICE_PAIRED = _action("device.paired", mark("Kiosk paired"))
DEVICE_RENAMED = _action("device.renamed", mark("Kiosk renamed"))
DEVICE_REMOVED = _action("device.removed", mark("Kiosk removed"))
DEVICE_LANGUAGE_CHANGED = _action("device.language_changed", mark("Kiosk language changed"))
# Suspected spoofs
SPOOF_APPROVED = _action("spoof.approved", mark("Suspected spoof approved"))
SPOOF_DISMISSED = _action("spoof.dismissed", mark("Suspected spoof dismissed"))
# Site settings (the console's Settings page)
SETTINGS_CHANGED = _action("settings.changed", mark("Attendance rules changed"))
# API tokens and webhooks
API_TOKEN_CREATED = _action("api_token.created", mark("API token created"))
API_TOKEN_REVOKED = _action("api_token.revoked", mark("API token revoked"))
WEBHOOK_ADDED = _action("webhook.added", mark("Webhook added"))
WEBHOOK_REMOVED = _action("webhook.removed", mark("Webhook removed"))
WEBHOOK_RESENT = _action("webhook.resent", mark("Webhook delivery sent again"))
# Admin accounts
ADMIN_CREATED = _action("admin.created", mark("Administrator added"))
ADMIN_PASSWORD_CHANGED = _action("admin.password_changed", mark("Administrator password changed"))
ADMIN_REMOVED = _action("admin.removed", mark("Administrator removed"))
ADMIN_SIGNED_IN = _action("admin.signed_in", mark("Administrator signed in"))

ACTIONS: tuple[str, ...] = tuple(
    value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str)
)
AREAS: tuple[str, ...] = tuple(sorted({action.split(".", 1)[0] for action in ACTIONS}))

# What the console calls each area (the action filter's groups).
_AREA_LABELS: dict[str, str] = {
    "admin": mark("Administrators"),
    "api_token": mark("API tokens"),
    "attendance": mark("Check-ins"),
    "device": mark("Kiosks"),
    "export": mark("Exports"),
    "gesture": mark("Gesture samples"),
    "group": mark("Groups"),
    "holiday": mark("Holidays"),
    "import": mark("Bulk imports"),
    "learned": mark("Faces learned at the kiosk"),
    "model": mark("Recognition"),
    "person": mark("People"),
    "photo": mark("Photos"),
    "punch": mark("Punches"),
    "retention": mark("Data retention"),
    "schedule": mark("Schedules"),
    "settings": mark("Attendance rules"),
    "spoof": mark("Suspected spoofs"),
    "webhook": mark("Webhooks"),
}

# What the console calls the kind of thing an entry is about (its target's type).
_TARGET_KINDS: dict[str, str] = {
    "admin": mark("Administrator"),
    "api_token": mark("API token"),
    "attendance": mark("Check-in"),
    "device": mark("Kiosk"),
    "export": mark("Export"),
    "gesture_sample": mark("Gesture sample"),
    "gesture_samples": mark("Gesture samples"),
    "group": mark("Group"),
    "holiday": mark("Holiday"),
    "import": mark("Import"),
    "model": mark("Model"),
    "person": mark("Person"),
    "punch": mark("Punch"),
    "retention": mark("Data retention"),
    "schedule": mark("Schedule"),
    "settings": mark("Attendance rules"),
    "spoof": mark("Suspected spoof"),
    "webhook": mark("Webhook"),
    "webhook_delivery": mark("Webhook delivery"),
}


def label(action: str) -> str:
    """What a person reads for ``action`` (English, the catalogue's source; the action itself for
    a name that is not in the vocabulary, such as one an older version wrote)."""
    return _LABELS.get(action, action)


def area_label(area: str) -> str:
    """What a person reads for a whole area of actions (``person``: People)."""
    return _AREA_LABELS.get(area, area)


def target_kind(target_type: str) -> str:
    """What a person reads for the kind of thing an entry is about (``device``: Kiosk)."""
    return _TARGET_KINDS.get(target_type, target_type)
