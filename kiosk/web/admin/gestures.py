"""Gestures: recording the site's gesture samples with the webcam."""

from __future__ import annotations

from flask import render_template

from ...gesture_vocabulary import Gesture
from ...services import model_status
from ..security import admin_required
from . import admin_bp

# What each gesture is called on screen, by the name the samples are stored under (translated in the page).
GESTURE_WORDS = {gesture.value: gesture.kiosk_words for gesture in Gesture}


@admin_bp.get("/models/gestures")
@admin_required
def gestures_page():
    return render_template(
        "admin/gestures.html", gesture=model_status.gesture_model_info(), gestures=list(Gesture),
        idle=Gesture.IDLE.value,
        gesture_words=GESTURE_WORDS,
    )

