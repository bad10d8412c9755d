from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class MidofficeConfig(AppConfig):
    name = "midoffice"
    verbose_name = "Mid-office"
    default_auto_field = "django.db.models.BigAutoField"


class PaysiteAdminConfig(AdminConfig):
    """Django's admin, with the mid-office's site: the dashboard as index, and a sign-in that is
    locked out after repeated failures."""

    default_site = "midoffice.site.PaysiteAdminSite"
