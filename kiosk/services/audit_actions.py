"""The audit log's vocabulary: every action an entry may name (``kiosk.services.audit.record``
refuses any other), as dotted ``<area>.<verb>`` words. Add one here before recording it; the
docs (docs/audit.md) list them with what their before/after hold."""

from __future__ import annotations

# People
PERSON_CREATED = "person.created"
PERSON_RENAMED = "person.renamed"
PERSON_ACTIVATED = "person.activated"
PERSON_DEACTIVATED = "person.deactivated"
PERSON_DELETED = "person.deleted"
# Faces
PHOTO_ENROLLED = "photo.enrolled"
PHOTO_REMOVED = "photo.removed"
LEARNED_REMOVED = "learned.removed"
# Models
MODEL_RETRAINED = "model.retrained"
GESTURE_SAMPLE_RECORDED = "gesture.sample_recorded"
GESTURE_SAMPLES_DELETED = "gesture.samples_deleted"
# Bulk import
IMPORT_STARTED = "import.started"
IMPORT_FINISHED = "import.finished"
IMPORT_DISCARDED = "import.discarded"
# Attendance
ATTENDANCE_MEMO_CHANGED = "attendance.memo_changed"
ATTENDANCE_DELETED = "attendance.deleted"
# Punch corrections (kiosk.services.corrections): each is a new revision of the punch
PUNCH_ADDED = "punch.added"
PUNCH_CHANGED = "punch.changed"
PUNCH_REMOVED = "punch.removed"
# Groups, schedules and holidays
GROUP_CREATED = "group.created"
GROUP_DELETED = "group.deleted"
PERSON_GROUP_CHANGED = "person.group_changed"
SCHEDULE_CHANGED = "schedule.changed"
HOLIDAY_ADDED = "holiday.added"
HOLIDAY_REMOVED = "holiday.removed"
EXPORT_DOWNLOADED = "export.downloaded"
RETENTION_PURGED = "retention.purged"
# Kiosk devices
DEVICE_ADDED = "device.added"
DEVICE_ROTATED = "device.rotated"
DEVICE_REVOKED = "device.revoked"
DEVICE_PAIRED = "device.paired"
DEVICE_RENAMED = "device.renamed"
DEVICE_REMOVED = "device.removed"
DEVICE_LANGUAGE_CHANGED = "device.language_changed"
# Suspected spoofs
SPOOF_APPROVED = "spoof.approved"
SPOOF_DISMISSED = "spoof.dismissed"
# Site settings (the console's Settings page)
SETTINGS_CHANGED = "settings.changed"
# API tokens and webhooks
API_TOKEN_CREATED = "api_token.created"
API_TOKEN_REVOKED = "api_token.revoked"
WEBHOOK_ADDED = "webhook.added"
WEBHOOK_REMOVED = "webhook.removed"
WEBHOOK_RESENT = "webhook.resent"
# Admin accounts
ADMIN_CREATED = "admin.created"
ADMIN_PASSWORD_CHANGED = "admin.password_changed"
ADMIN_REMOVED = "admin.removed"
ADMIN_SIGNED_IN = "admin.signed_in"

ACTIONS: tuple[str, ...] = tuple(
    value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str)
)
AREAS: tuple[str, ...] = tuple(sorted({action.split(".", 1)[0] for action in ACTIONS}))
