"""The Content-Security-Policy of the shopper's pages.

Django 5.2 has no CSP support of its own (6.0 adds one) and the project sent none, so each shopper
view is wrapped in `content_security_policy`: our own scripts, styles and images only, nothing
inline, no frames, no plugins, and the page is never framed. A view may add sources for one page
(the purchase page in Stripe mode adds Stripe.js, see checkout/stripe_page.py); nothing else on
the site gets them. The mid-office keeps Django admin's own pages and headers, untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase

HEADER = "Content-Security-Policy"

Sources = Mapping[str, Sequence[str]]

BASE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'",),
    "base-uri": ("'none'",),
    "frame-ancestors": ("'none'",),
}
# No form-action: Buy Now answers with a 303 to the PSP's 3-D Secure page (the sandbox's, or
# Stripe's), and browsers hold the redirects of a form's submission to form-action too, so
# 'self' would stop the shopper at the redirect. default-src does not cover form-action.


def policy(extra: Sources | None = None) -> str:
    """The header's value: the base policy, with `extra` sources added per directive (a directive
    that was 'none', or absent and so falling back to default-src 'none', gets only them)."""
    directives = {name: list(sources) for name, sources in BASE_POLICY.items()}
    for name, sources in (extra or {}).items():
        if not sources:
            continue
        current = [source for source in directives.get(name, []) if source != "'none'"]
        directives[name] = current + [source for source in sources if source not in current]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


View = Callable[..., HttpResponseBase]


def content_security_policy(extra: Callable[[], Sources] | None = None) -> Callable[[View], View]:
    """Sends the shopper pages' policy on every answer of the view; `extra` is asked per request
    (the provider is a setting that tests change), for the sources this one page needs."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            if HEADER not in response:
                response[HEADER] = policy(extra() if extra else None)
            return response

        return wrapped

    return decorator
