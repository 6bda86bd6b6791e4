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
EXPORT_DOWNLOADED = "export.downloaded"
RETENTION_PURGED = "retention.purged"
# Kiosk devices
DEVICE_ADDED = "device.added"
DEVICE_ROTATED = "device.rotated"
DEVICE_REVOKED = "device.revoked"
DEVICE_PAIRED = "device.paired"
DEVICE_RENAMED = "device.renamed"
DEVICE_REMOVED = "device.removed"
# Suspected spoofs
SPOOF_APPROVED = "spoof.approved"
SPOOF_DISMISSED = "spoof.dismissed"
# Site settings (a page that changes them records here)
SETTINGS_CHANGED = "settings.changed"
# Admin accounts
ADMIN_CREATED = "admin.created"
ADMIN_PASSWORD_CHANGED = "admin.password_changed"
ADMIN_REMOVED = "admin.removed"
ADMIN_SIGNED_IN = "admin.signed_in"

ACTIONS: tuple[str, ...] = tuple(
    value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str)
)
AREAS: tuple[str, ...] = tuple(sorted({action.split(".", 1)[0] for action in ACTIONS}))
