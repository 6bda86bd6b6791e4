"""The console's Webhooks page (``kiosk.services.webhooks``): subscriptions and the delivery log.

- ``/admin/webhooks?status=``                    webhooks, the form to add one, the latest deliveries
- POST ``/admin/webhooks``                       add (URL, events, secret)
- POST ``/admin/webhooks/<id>/remove``           remove with its deliveries
- POST ``/admin/webhooks/deliveries/<id>/resend``  "send again": the same delivery id, a new retry period
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ...errors import KioskError
from ...services import webhooks
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def _back():
    return redirect(url_for("admin.webhooks_page", status=request.args.get("status") or None), 303)


@admin_bp.get("/webhooks")
@admin_required
def webhooks_page(status_code: int = 200):
    status = request.args.get("status") or None
    try:
        listed = webhooks.deliveries(status=status, limit=200)
    except KioskError as err:
        flash(refusal(err), "error")
        status, listed = None, webhooks.deliveries(limit=200)
    return render_template("admin/webhooks.html", subscriptions=webhooks.list_subscriptions(), deliveries=listed,
                           events=webhooks.EVENTS, statuses=webhooks.STATUSES, status=status,
                           min_secret=webhooks.MIN_SECRET_LENGTH, form=request.form), status_code


@admin_bp.post("/webhooks")
@admin_required
def webhooks_add():
    try:
        subscription = webhooks.add_subscription(request.form.get("url"), request.form.getlist("event"),
                                                 request.form.get("secret"), actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return webhooks_page(err.status)
    flash(gettext("Webhook added: %(url)s.", url=subscription.url), "success")
    return _back()


@admin_bp.post("/webhooks/<int:subscription_id>/remove")
@admin_required
def webhooks_remove(subscription_id: int):
    webhooks.remove_subscription(subscription_id, actor=admin_actor())
    flash(gettext("Webhook removed."), "success")
    return _back()


@admin_bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@admin_required
def webhooks_resend(delivery_id: int):
    delivery = webhooks.send_again(delivery_id, actor=admin_actor())
    flash(gettext("Delivery %(delivery)s queued again.", delivery=delivery.delivery_id), "success")
    return _back()
