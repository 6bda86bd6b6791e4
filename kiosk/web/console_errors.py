"""What the console shows when a service refuses an administrator's request, in the console's language.

The services' messages are English on purpose: they go to the log, the command line and the JSON
API (``/api/v1`` answers ``{"error": code, "message": ...}`` in English for the machines that read
it). A person using the console reads the sentence below for the error's code instead, in their
language, with the error's own fields as placeholders (``kiosk.errors.KioskError.extra``); in
English the service's message itself, which is written for the person and names the exact values.
A code without a sentence here, or a sentence whose field the error did not carry, shows the service's
English message, so nothing is ever hidden; ``tests/test_console_errors.py`` fails for a code the
console can show that has no sentence here.
"""

from __future__ import annotations

import re

from flask_babel import get_locale, gettext

from ..errors import KioskError
from ..languages import SOURCE_LANGUAGE, mark

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_TRY_AGAIN = mark("Something went wrong on the server; try again. If it comes back, the operator's log says why.")

#: error code -> the console's sentence (placeholders from the error's own fields).
CONSOLE_MESSAGES: dict[str, str] = {
    # The error classes' own codes (kiosk/errors.py), for a refusal that names no code of its own.
    "bad_request": mark("This request cannot be done as it was sent."),
    "invalid_input": mark("Something in the form is not valid: check it and try again."),
    "conflict": mark("This cannot be done right now: reload the page and try again."),
    "not_found": mark("This was not found: it may have been removed meanwhile."),
    "unprocessable_image": mark("This picture cannot be used."),
    # The web layer.
    "csrf_failed": mark("The form expired or was not sent by this site; reload the page and try again."),
    "too_large": mark("The upload is too large: send a smaller file, or several smaller ones."),
    "internal_error": mark("Something went wrong on the server; the operator has been told in the log."),
    "bad_json": mark("The request did not arrive as expected; reload the page and try again."),
    "bad_boolean": mark("The request did not arrive as expected; reload the page and try again."),
    "bad_image_field": mark("A webcam picture did not arrive as expected; take it again."),
    "bad_base64": mark("A webcam picture did not arrive as expected; take it again."),
    "bad_memo": mark("The memo must be text."),
    "missing_memo": mark("The memo did not arrive; reload the page and try again."),
    "missing_photos": mark("Choose at least one photo to enroll."),
    "too_many_photos": mark("At most %(max_photos)s photos at once; send the rest in another batch."),
    "missing_active": mark("The request did not arrive as expected; reload the page and try again."),
    "missing_source": mark("Choose a ZIP archive or a CSV file to import."),
    "unknown_language": mark("That language is not offered: choose English, Deutsch, Français or Español."),
    # Signing in, limits.
    "sign_in_refused": mark("Wrong username or password."),
    "locked_out": mark("Too many failed sign-ins; try again in %(retry_after)s seconds."),
    "rate_limited": mark("Too many requests; try again in %(retry_after)s seconds."),
    # Servers, models and the database.
    "database_unavailable": mark("The database cannot be reached right now; try again in a moment."),
    "model_unavailable": mark("A recognition model is missing or damaged on the server; the operator's log says "
                              "how to restore it."),
    "model_not_trained": mark("Recognition is not set up yet: add people with photos of their face first."),
    "not_enough_faces": mark("Recognition needs photos of at least one person before it can learn."),
    "warming": mark("The server is still starting; try again in a few seconds."),
    "bad_config": _TRY_AGAIN,
    "bad_timezone": mark("The site's time zone is not set correctly; the operator's log says how to fix it."),
    "photo_unreadable": mark("The stored original photo cannot be read."),
    # People and names.
    "missing_name": mark("A person needs a name."),
    "invalid_name": mark("The name contains a character that cannot be part of it; type it again without it."),
    "name_too_long": mark("The name is too long; shorten it."),
    "mixed_scripts": mark("A word of the name mixes letters of different alphabets that look alike; type it again "
                          "in one alphabet."),
    "name_taken": mark("“%(name)s” cannot be used: %(existing)s already exists with this name or one that looks "
                       "the same."),
    "invalid_external_id": mark("The external id contains a character that cannot be part of it; type it again "
                                "without it."),
    "external_id_too_long": mark("The external id is too long; shorten it."),
    "external_id_taken": mark("The external id “%(external_id)s” is already used by someone else."),
    "person_deleted": mark("This person has been deleted."),
    "person_inactive": mark("This person is deactivated and cannot check in."),
    "person_unsaved": _TRY_AGAIN,
    "bad_person": mark("No such person: choose one from the list."),
    # Enrollment photos (one reason per refused photo).
    "bad_image": mark("This file could not be read as a photo: use a JPEG, PNG, WebP, BMP or TIFF photo."),
    "no_face": mark("No face was found in this photo."),
    "multiple_faces": mark("More than one face is in this photo: use a photo of this person alone."),
    "face_too_small": mark("The face is too small in this photo: use a closer photo."),
    "too_blurry": mark("The face is blurred in this photo: use a sharper one."),
    "too_dark": mark("The face is too dark in this photo: use a better lit one."),
    "too_bright": mark("The face is overexposed in this photo: use one without glare."),
    # An accepted photo worth a look (kiosk.services.enrollment.PhotoWarning).
    "possible_duplicate": mark("This face looks very much like %(name)s, who is already enrolled: check that these "
                               "photos are of the right person (a duplicate enrollment makes the kiosk confuse them)."),
    "background_faces": mark("%(count)s smaller face(s) in the background were ignored."),
    "no_learned_sample": mark("This learned face is no longer there."),
    # Check-ins, photos and memos.
    "memo_too_long": mark("A memo has at most %(max_lines)s lines and %(max_length)s characters."),
    "bad_photo": mark("This check-in photo cannot be used."),
    "no_photo": mark("This check-in has no photo."),
    "photo_missing": mark("The photo file of this check-in is missing."),
    "bad_score": mark("A score must be a number."),
    "naive_time": _TRY_AGAIN,
    "bad_retention": mark("The photo retention must be at least 1 day."),
    # Corrections of punches.
    "bad_kind": mark("A punch is either an in or an out."),
    "bad_time": mark("Type a date and time such as 2026-03-02 09:00."),
    "missing_reason": mark("A correction needs a reason (who asked, or why)."),
    "reason_too_long": mark("A reason is at most %(max_length)s characters."),
    "same_time": mark("There is already a punch at %(time)s."),
    "overlapping_pairs": mark("With this change two stretches of work would overlap or an in would have no out: "
                              "correct the neighbouring punch first."),
    "out_before_in": mark("An out needs its in first: add or correct the in of that working day first."),
    "punch_removed": mark("This punch was removed already."),
    "punch_in_future": mark("%(when)s is in the future: a punch records what happened."),
    "no_change": mark("The punch already has this time and kind: nothing to change."),
    # Dates, periods, reports.
    "missing_date": mark("A date is missing (YYYY-MM-DD)."),
    "bad_date": mark("A date is not in the form YYYY-MM-DD, or is outside the dates the kiosk reports on."),
    "date_out_of_range": mark("A date is outside the dates the kiosk reports on."),
    "bad_range": mark("The period ends before it starts."),
    "range_too_long": mark("A period is at most %(max_days)s days; split it into smaller ones."),
    "bad_month": mark("The month is not in the form YYYY-MM."),
    "bad_format": mark("Choose CSV or Excel."),
    "bad_report": mark("Choose the summary or the timesheet."),
    "bad_updated_since": mark("The date and time is not in the form 2026-12-07T08:00:00Z."),
    # Schedules, holidays, groups, rules.
    "bad_grace": mark("The grace time is a whole number of minutes from 0 to %(max_minutes)s."),
    "schedule_ends_before_start": mark("The schedule ends (%(end)s) before it starts (%(start)s). For a night "
                                       "shift, say that it ends the next day."),
    "bad_owner": mark("Choose whose schedule this is: a person or a group."),
    "bad_weekday": mark("Choose a weekday from Monday to Sunday."),
    "bad_holiday": mark("A holiday needs a date (YYYY-MM-DD) and a name of at most 120 characters."),
    "holiday_exists": mark("%(day)s is already a holiday."),
    "bad_group": mark("No such group: choose one from the list."),
    "bad_group_name": mark("A group needs a short name, without control characters."),
    "group_exists": mark("There is already a group “%(name)s”."),
    "bad_setting": mark("This value cannot be used for this rule: check it and try again."),
    # Kiosks and pairing.
    "missing_code": mark("Type the code the kiosk shows."),
    "unknown_pairing_code": mark("No kiosk is waiting with this code. Check the code on the kiosk screen (a code "
                                 "lasts a few minutes, then the kiosk shows a new one)."),
    "pairing_unavailable": mark("No pairing code could be made; try again."),
    "too_many_pairings": mark("Too many kiosks are waiting to be paired; try again in a few minutes."),
    "kiosk_not_paired": mark("This kiosk is not paired: approve its code on the Devices page."),
    "missing_device_name": mark("A kiosk needs a name (for example “Front door”)."),
    "invalid_device_name": mark("The kiosk name contains a character that cannot be part of it; type it again "
                                "without it."),
    "device_name_too_long": mark("The kiosk name is too long; shorten it."),
    "device_name_taken": mark("A kiosk named “%(name)s” already exists."),
    "invalid_location": mark("The location contains a character that cannot be part of it; type it again "
                             "without it."),
    "location_too_long": mark("The location is too long; shorten it."),
    # The kiosk's own refusals (a console user meets them only through a stale page).
    "busy": mark("The kiosk is busy with another request; try again."),
    "not_confirming": mark("The kiosk is not asking for a confirmation right now."),
    "touch_answer_off": mark("Answering by touch is switched off at this site."),
    "kiosk_sessions_full": mark("Too many kiosks are in use at once; try again in a moment."),
    "frame_too_large": mark("The camera picture is too large."),
    "missing_field": mark("The request did not arrive as expected; reload the page and try again."),
    "unsupported_media_type": mark("The request did not arrive as expected; reload the page and try again."),
    "bad_answer": mark("The answer did not arrive; please answer again."),
    # Recognition and gesture training.
    "bad_model": mark("There is no such model to retrain."),
    "already_training": mark("This model is being retrained already; wait for it to finish."),
    "bad_label": mark("Choose one of the gestures: O, X, capture or idle."),
    "bad_landmarks": mark("The recorded pose cannot be used; record the gesture again."),
    "missing_frame": mark("The webcam picture did not arrive; take it again."),
    "missing_landmarks": mark("The recorded pose did not arrive; record the gesture again."),
    "no_person": mark("No person was found in the picture; stand in front of the camera."),
    "no_base_set": mark("The base gesture training set is missing on the server; the operator's log says how to "
                        "restore it."),
    "no_samples": mark("No gesture samples have been recorded at this site yet; record some before retraining."),
    # Bulk import.
    "already_importing": mark("Another import is running on this site; wait for it to finish (photos it imports "
                              "are skipped if you then run yours again)."),
    "bad_source": mark("Upload a ZIP of one folder per person, or a CSV (name, external_id, photo_path...) with its "
                       "photos."),
    "bad_csv": mark("The CSV cannot be read as a list of people: its first line must name the columns name, "
                    "external_id and photo_path."),
    "duplicate_name": mark("Two uploaded photos have the same file name: rename one."),
    "not_photos": mark("Some uploaded files are not photos: only JPEG, PNG, WebP, BMP and TIFF photos (and one CSV "
                       "at the top) can be imported. Remove them and try again."),
    "no_photos": mark("The upload holds no photos."),
    "photos_outside_folders": mark("Some photos are not in a person's folder: put each person's photos in a folder "
                                   "named after them, or list them in a CSV."),
    "not_a_zip": mark("The file is not a ZIP archive that can be read."),
    "encrypted": mark("The ZIP archive is protected by a password: upload one without a password."),
    "zip_bomb": mark("The ZIP archive unpacks to far more than it weighs; it is refused to protect the server."),
    "unsafe_paths": mark("The ZIP archive has file names that point outside it; it is refused."),
    "symlinks": mark("The upload holds links to other files; only photos can be imported."),
    "too_many": mark("The upload holds too many files: split it into several imports."),
    # API tokens and webhooks.
    "missing_token_name": mark("A token needs a name (for example “payroll”)."),
    "invalid_token_name": mark("The token name contains a character that cannot be part of it, or is too long."),
    "token_name_taken": mark("A token named “%(name)s” already exists: revoke it first or choose another name."),
    "bad_expiry": mark("The expiry is a whole number of days from 1 to 3650."),
    "missing_scope": mark("Choose at least one permission for the token."),
    "unknown_scope": mark("A permission was chosen that does not exist; reload the page and choose again."),
    "invalid_token": mark("This API token is missing, unknown, revoked or expired."),
    "insufficient_scope": mark("This API token does not allow this."),
    "bad_url": mark("A webhook URL starts with http:// or https://, names a host, and has no spaces."),
    "weak_secret": mark("The secret must be %(min_length)s to %(max_length)s printable characters (it signs every "
                        "delivery)."),
    "missing_events": mark("Choose at least one event for the webhook."),
    "unknown_event": mark("An event was chosen that does not exist; reload the page and choose again."),
    # Lists and filters.
    "bad_status": mark("That status does not exist; choose one from the list."),
    "bad_actor": mark("An actor is at most 96 characters."),
    "unknown_action": mark("That action does not exist; choose one from the list."),
    "already_decided": mark("This attempt was already decided."),
    "spoof_photo_gone": mark("This attempt's photo was removed by the retention rule: add the check-in by hand."),
}


def console_message(code: str, english: str, fields: dict | None = None) -> str:
    """The console's sentence for error ``code`` in the request's language; ``english`` when there is none."""
    message = CONSOLE_MESSAGES.get(code)
    if message is None or str(get_locale() or SOURCE_LANGUAGE) == SOURCE_LANGUAGE:
        return english  # in English the service's own words say it best (they name the exact values)
    values = {key: value for key, value in (fields or {}).items() if isinstance(value, (int, float, str))}
    if not set(PLACEHOLDER.findall(message)) <= values.keys():  # a field this error did not carry
        return english
    return gettext(message, **values)


def refusal(err: KioskError) -> str:
    """What the console shows for a refused request: ``flash(refusal(err), "error")``."""
    return console_message(err.code, str(err), err.extra)
