"""Settings for the payment backend.

Every value comes from the environment (or a `.env` file), with the names and defaults of
`bps-contract.md`. With DEBUG on, demo values fill the gaps so a fresh machine runs the demo;
with DEBUG off, a missing secret stops start-up with a one-line message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ

from paysite.fs_broker import folders as fs_broker_folders

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def _secret(name: str, demo_value: str) -> str:
    """A secret that production must set itself: a demo value only while DEBUG is on."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return demo_value
    # SystemExit with a string prints exactly one line and stops manage.py, gunicorn and celery.
    raise SystemExit(f"paysite: {name} is not set; it is required when DEBUG is off.")


SECRET_KEY = _secret("SECRET_KEY", "demo-only-secret-key-never-use-in-production-0123456789abcdef")

# --- The PSP -------------------------------------------------------------------------------
PSP_BASE_URL = env.str("PSP_BASE_URL", default="http://127.0.0.1:8001").rstrip("/")
PSP_API_KEY = _secret("PSP_API_KEY", "sk_test_sandbox")
PSP_WEBHOOK_SECRET = _secret("PSP_WEBHOOK_SECRET", "whsec_nQxn1sKGmCmOppoXCnxzKgmOWNcR+WOQZGWjuJADFX8=")
# A second secret accepted during a rotation, so that no event is lost while both are live.
PSP_WEBHOOK_SECRET_PREVIOUS = env.str("PSP_WEBHOOK_SECRET_PREVIOUS", default="")
PSP_TIMEOUT = env.float("PSP_TIMEOUT", default=10.0)
PSP_MAX_ATTEMPTS = env.int("PSP_MAX_ATTEMPTS", default=3)
PSP_RETRY_BACKOFF = env.float("PSP_RETRY_BACKOFF", default=0.2)  # seconds before the 2nd try; doubles
PSP_PAYMENT_METHODS = env.list(
    "PSP_PAYMENT_METHODS",
    default=[
        "pm_card_visa",
        "pm_card_mastercard",
        "pm_card_declined",
        "pm_card_insufficient_funds",
        "pm_card_expired",
        "pm_card_3ds",
        "pm_bank_transfer",
        "pm_bank_transfer_fail",
        "pm_bank_transfer_silent",
    ],
)
PSP_CALL_RETENTION_DAYS = env.int("PSP_CALL_RETENTION_DAYS", default=90)

# --- Our public address and where shoppers may be sent --------------------------------------
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_site_host = urlsplit(SITE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[_site_host, "127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [_site_host],
)
ALLOWED_REDIRECT_HOSTS = env.list(
    "ALLOWED_REDIRECT_HOSTS",
    default=sorted({_site_host, *(h.lstrip(".") for h in ALLOWED_HOSTS if h != "*")}),
)

# --- Polling -------------------------------------------------------------------------------
PAYMENTS_POLL_INTERVAL = env.float("PAYMENTS_POLL_INTERVAL", default=30.0)
PAYMENTS_POLL_FIRST_DELAY = env.float("PAYMENTS_POLL_FIRST_DELAY", default=60.0)
PAYMENTS_POLL_MAX_DELAY = env.float("PAYMENTS_POLL_MAX_DELAY", default=3600.0)
PAYMENTS_POLL_GIVE_UP_AFTER = env.float("PAYMENTS_POLL_GIVE_UP_AFTER", default=259200.0)
PAYMENTS_POLL_BATCH_SIZE = env.int("PAYMENTS_POLL_BATCH_SIZE", default=100)
# A recorded event still unprocessed this long after it arrived lost its task (a worker killed
# before acknowledging it): the sweeper, run every WEBHOOK_REQUEUE_INTERVAL, enqueues it again.
WEBHOOK_REQUEUE_AFTER = env.float("WEBHOOK_REQUEUE_AFTER", default=120.0)
WEBHOOK_REQUEUE_INTERVAL = env.float("WEBHOOK_REQUEUE_INTERVAL", default=60.0)

# --- The mid-office (Django admin) ----------------------------------------------------------
# Failed staff sign-ins allowed per username and address within the window, before the form waits.
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_WINDOW = env.int("ADMIN_LOGIN_WINDOW", default=900)

# --- Django --------------------------------------------------------------------------------
INSTALLED_APPS = [
    "midoffice.apps.PaysiteAdminConfig",  # Django's admin with the mid-office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "checkout",
    "payments",
    "webhooks",
    "midoffice.apps.MidofficeConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "paysite.middleware.BodySizeLimitMiddleware",
    "paysite.middleware.JsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "paysite.urls"
WSGI_APPLICATION = "paysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'paysite.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool replaces persistent connections (Django refuses both at once).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions take the write lock up front (SQLite has no SELECT ... FOR UPDATE).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory: end-to-end tests share the test database with a live server's threads
    # and with worker processes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-paysite.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))

# Bodies larger than this are refused with 413 before any view reads them.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# --- Security: `manage.py check --deploy` passes with DEBUG off -----------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

# --- Django REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["checkout.api_keys.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["checkout.api_keys.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["checkout.parsers.JsonWithoutNul"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "paysite.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "paysite storefront API",
    "DESCRIPTION": "Checkouts, Buy Now and refunds of the shop's payment backend.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "CheckoutStatusEnum": "payments.states.CheckoutStatus",
        "AttemptStatusEnum": "payments.states.AttemptStatus",
        "RefundStatusEnum": "payments.states.RefundStatus",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery --------------------------------------------------------------------------------
# Without CELERY_BROKER_URL the demo runs on an embedded broker: kombu's filesystem transport
# with atomic writes (see paysite/fs_broker.py), which needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "paysite.fs_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = fs_broker_folders(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Every task is idempotent, so it is acknowledged only after it ran: a killed worker's task
# comes back. Hours-later work comes from due-time columns, never from long countdowns, so the
# Redis visibility timeout only has to outlast the longest task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# One beat only. Each periodic message expires after its own period, so a stopped worker does
# not come back to a pile of stale copies.
CELERY_BEAT_SCHEDULE = {
    "poll-due-payments": {
        "task": "payments.tasks.poll_due",
        "schedule": PAYMENTS_POLL_INTERVAL,
        "options": {"expires": PAYMENTS_POLL_INTERVAL},
    },
    "requeue-stale-webhook-events": {
        "task": "webhooks.tasks.requeue_stale_events",
        "schedule": WEBHOOK_REQUEUE_INTERVAL,
        "options": {"expires": WEBHOOK_REQUEUE_INTERVAL},
    },
    "expire-checkouts": {"task": "checkout.tasks.expire_checkouts", "schedule": 60.0, "options": {"expires": 60.0}},
    "prune-psp-calls": {"task": "payments.tasks.prune_psp_calls", "schedule": 3600.0, "options": {"expires": 3600.0}},
    "prune-idempotency-records": {
        "task": "checkout.tasks.prune_idempotency_records", "schedule": 3600.0, "options": {"expires": 3600.0},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
