"""The mid-office's own record: failed staff sign-ins, to slow down password guessing."""

from __future__ import annotations

from django.db import models


class LoginFailure(models.Model):
    """One failed admin sign-in. A table, not a cache: every web process must see the same count."""

    username = models.CharField(max_length=150)
    remote_addr = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "remote_addr", "created_at"], name="login_failure_key_idx"),
            models.Index(fields=["created_at"], name="login_failure_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.remote_addr} at {self.created_at:%Y-%m-%d %H:%M:%S}"
