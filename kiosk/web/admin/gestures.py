"""Gestures: recording the site's gesture samples with the webcam."""

from __future__ import annotations

from flask import render_template

from ...gesture_vocabulary import Gesture
from ...services import model_status
from ..security import admin_required
from . import admin_bp


@admin_bp.get("/models/gestures")
@admin_required
def gestures_page():
    return render_template(
        "admin/gestures.html", gesture=model_status.gesture_model_info(), gestures=list(Gesture), idle=Gesture.IDLE.value
    )
