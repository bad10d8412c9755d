from datetime import timedelta

from django import template

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
