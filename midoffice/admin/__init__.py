"""Every admin class of the mid-office, one module per area; importing them registers them with
the site (Django autodiscovers this package as the `midoffice` app's `admin`)."""

from midoffice.admin import checkouts, payments, webhooks

__all__ = ["checkouts", "payments", "webhooks"]
