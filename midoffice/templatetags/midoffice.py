from datetime import datetime, timedelta

from django import template

from midoffice import formats
from payments.states import status_label

register = template.Library()


@register.filter
def duration(value: timedelta) -> str:
    """A short age for staff: "42 s", "17 min", "5 h 3 min", "3 d 4 h"."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


@register.filter
def whole_duration(value: timedelta) -> str:
    """A setting's span in its largest whole unit: "3 days", "36 hours", "90 minutes", "45 seconds"."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}{'' if seconds == size else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


@register.filter
def when(value: datetime | None) -> str:
    """A moment as the mid-office writes it everywhere: "2026-11-30 05:07:54"."""
    return formats.when(value)


@register.filter
def when_ms(value: datetime | None) -> str:
    """The same, with milliseconds (the timeline, where events a few ms apart keep their order)."""
    return formats.when(value, milliseconds=True)


@register.filter
def attempt_status(value: str) -> str:
    """An attempt status's label ("Needs Review"), where the template holds only the stored value."""
    return status_label("attempt", value)
