"""Every admin class of the mid-office, one module per area; importing them registers them with
the site (Django autodiscovers this package as the `midoffice` app's `admin`)."""

from midoffice.admin import checkouts, notifications, payments, storefronts, webhooks

__all__ = ["checkouts", "notifications", "payments", "storefronts", "webhooks"]
