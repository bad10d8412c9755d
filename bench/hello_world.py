"""The benchmark's baseline: a hello-world Django project, served by the same gunicorn with the
same configuration as the BPS, so that every figure of `make bench` is a ratio to what Django
itself does on this machine in the same run.

It is `django-admin startproject` reduced to one module: the default middleware, one view, no
database. `DJANGO_SETTINGS_MODULE=bench.hello_world gunicorn bench.hello_world:application`.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-hello-world-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "django.contrib.messages",
]
# startproject's list, as a new Django project has it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES: dict[str, object] = {}
USE_TZ = True


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"Hello, world!", content_type="text/plain")


urlpatterns = [path("", hello)]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", __name__)
application = get_wsgi_application()
