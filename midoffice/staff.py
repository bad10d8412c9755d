"""Who is acting: the mid-office turns the signed-in request into the actor id the services take."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def staff_id(request: HttpRequest) -> int:
    """The signed-in member of staff's id (the admin lets no anonymous request reach a view)."""
    if request.user.pk is None:
        raise PermissionDenied
    return int(request.user.pk)
