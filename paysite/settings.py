"""Settings for the payment backend.

Every value comes from the environment (or a `.env` file), with the names and defaults of
`bps-contract.md`. DEBUG is off unless set: then a missing or demo secret, or a malformed one,
stops start-up with a one-line message naming the variable (paysite/startup.py). With DEBUG on
(`make run`, the tests), demo values fill the gaps so a fresh machine runs the demo.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

from paysite import startup
from paysite.fs_broker import folders as fs_broker_folders

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _secret(name: str) -> str:
    """A secret that production must set itself: the demo value only while DEBUG is on."""
    return startup.secret(name, env.str(name, default=""), debug=DEBUG)


SECRET_KEY = _secret("SECRET_KEY")

# --- The PSP -------------------------------------------------------------------------------
# Which PSP the BPS talks to: `generic` (docs/psp-protocol.md, at PSP_BASE_URL) or `stripe`.
# Only the chosen one's secrets are required.
PSP_PROVIDER = startup.provider("PSP_PROVIDER", env.str("PSP_PROVIDER", default="generic"))
_generic = PSP_PROVIDER == "generic"
PSP_BASE_URL = env.str("PSP_BASE_URL", default="http://127.0.0.1:8001").rstrip("/")
PSP_API_KEY = _secret("PSP_API_KEY") if _generic else env.str("PSP_API_KEY", default="")
PSP_WEBHOOK_SECRET = startup.webhook_secret(
    "PSP_WEBHOOK_SECRET", _secret("PSP_WEBHOOK_SECRET") if _generic else env.str("PSP_WEBHOOK_SECRET", default="")
)
# A second secret accepted during a rotation, so that no event is lost while both are live.
PSP_WEBHOOK_SECRET_PREVIOUS = startup.webhook_secret(
    "PSP_WEBHOOK_SECRET_PREVIOUS", env.str("PSP_WEBHOOK_SECRET_PREVIOUS", default="")
)
# Stripe mode: the three keys are required (no demo value, whatever DEBUG is); STRIPE_API_BASE
# points the SDK at an emulator, and only with DEBUG on (production never talks to a fake).
STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE = startup.stripe_keys(
    secret_key=env.str("STRIPE_SECRET_KEY", default=""),
    publishable_key=env.str("STRIPE_PUBLISHABLE_KEY", default=""),
    webhook_secret=env.str("STRIPE_WEBHOOK_SECRET", default=""),
    api_base=env.str("STRIPE_API_BASE", default=""),
    required=PSP_PROVIDER == "stripe", debug=DEBUG,
)
# Test keys or an emulator: the purchase page offers Stripe's test payment methods as buttons.
STRIPE_TEST_MODE = STRIPE_SECRET_KEY.startswith(("sk_test_", "rk_test_")) or bool(STRIPE_API_BASE)
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

# --- The storefront API -----------------------------------------------------------------------
# A request holding an Idempotency-Key this long died (no request runs longer: the PSP's tries
# time out well before): a retry with the key then takes over and resumes what it created.
IDEMPOTENCY_TAKEOVER_AFTER = env.float("IDEMPOTENCY_TAKEOVER_AFTER", default=120.0)

# --- Polling -------------------------------------------------------------------------------
PAYMENTS_POLL_INTERVAL = env.float("PAYMENTS_POLL_INTERVAL", default=30.0)
PAYMENTS_POLL_FIRST_DELAY = env.float("PAYMENTS_POLL_FIRST_DELAY", default=60.0)
PAYMENTS_POLL_MAX_DELAY = env.float("PAYMENTS_POLL_MAX_DELAY", default=3600.0)
PAYMENTS_POLL_GIVE_UP_AFTER = env.float("PAYMENTS_POLL_GIVE_UP_AFTER", default=259200.0)
PAYMENTS_POLL_BATCH_SIZE = env.int("PAYMENTS_POLL_BATCH_SIZE", default=100)
# A recorded event still unprocessed this long after it arrived lost its task (a worker killed
# before acknowledging it, a broker restart): the sweeper, run every WEBHOOK_REQUEUE_INTERVAL,
# enqueues it again, at most once per WEBHOOK_REQUEUE_AFTER. A failed event's retries are due
# times that the same sweeper rings. 30 s is far above the time an event waits in a healthy
# queue, and a lost burst is caught within 35 s.
WEBHOOK_REQUEUE_AFTER = env.float("WEBHOOK_REQUEUE_AFTER", default=30.0)
WEBHOOK_REQUEUE_INTERVAL = env.float("WEBHOOK_REQUEUE_INTERVAL", default=5.0)

# --- Storefront notifications ---------------------------------------------------------------
# Notification URLs that resolve to loopback, private or link-local addresses are refused unless
# this is on (the demo and the tests, where shop and BPS share a machine).
NOTIFY_ALLOW_PRIVATE_URLS = env.bool("NOTIFY_ALLOW_PRIVATE_URLS", default=False)
NOTIFY_TIMEOUT = env.float("NOTIFY_TIMEOUT", default=10.0)  # a delivery counts if answered 2xx within it
NOTIFY_DISABLE_AFTER = timedelta(seconds=env.float("NOTIFY_DISABLE_AFTER", default=3 * 86400.0))
NOTIFY_SWEEP_INTERVAL = env.float("NOTIFY_SWEEP_INTERVAL", default=2.0)
# The retry schedule (5 s … 10 h) times this: 1 in production; end-to-end tests shrink it.
NOTIFY_RETRY_SCALE = env.float("NOTIFY_RETRY_SCALE", default=1.0)
NOTIFY_BATCH_SIZE = env.int("NOTIFY_BATCH_SIZE", default=50)
# Deliveries in flight at once, over all endpoints (each endpoint has one at most): keep it below the
# worker pool's size, so that dead shops never take every slot from the PSP's webhooks and polls.
NOTIFY_MAX_IN_FLIGHT = env.int("NOTIFY_MAX_IN_FLIGHT", default=4)

# --- The mid-office (Django admin) ----------------------------------------------------------
# Failed staff sign-ins allowed within the window, per username and address, and per address
# over all usernames, before django-axes locks them out until the window has passed.
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", default=20)
ADMIN_LOGIN_WINDOW = env.int("ADMIN_LOGIN_WINDOW", default=900)
# A staff session lasts a working day from sign-in.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

# --- Reverse proxies -----------------------------------------------------------------------
# Peers (IPs or CIDR networks) whose X-Forwarded-For and X-Forwarded-Proto are believed; from any
# other peer those headers are dropped (paysite/proxy.py). Empty: the BPS faces clients directly.
TRUSTED_PROXIES = startup.networks("TRUSTED_PROXIES", env.list("TRUSTED_PROXIES", default=[]))

# --- Django --------------------------------------------------------------------------------
INSTALLED_APPS = [
    "midoffice.apps.PaysiteAdminConfig",  # Django's admin with the mid-office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # the admin sign-in lockout
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "checkout",
    "payments",
    "webhooks",
    "midoffice.apps.MidofficeConfig",
]

MIDDLEWARE = [
    "paysite.proxy.TrustedProxyMiddleware",  # first: everything below reads the client it settles
    "django.middleware.security.SecurityMiddleware",
    "paysite.middleware.BodySizeLimitMiddleware",
    "paysite.middleware.JsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: turns a locked-out sign-in into its page
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any password check
    "django.contrib.auth.backends.ModelBackend",
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
    # The pool checks each connection as it hands it out (one empty round trip), so that a
    # connection broken by a PostgreSQL restart or failover is replaced instead of failing a request or a task.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
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

# Shared by every process: refused webhook deliveries are counted here, not in the database,
# the result page throttles its PSP questions here, and live API keys are remembered here (their
# revocation is seen by every process that shares it: checkout/api_keys.py). Production points
# CACHE_URL at Redis (redis://host:6379/N); the default, a file cache under var/, needs no server
# and is shared by the processes of one machine. A cache of one process is refused with DEBUG off.
CACHES = {
    "default": startup.shared_cache(
        "CACHE_URL", env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}"), debug=DEBUG
    )
}

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

# --- Security: HTTPS follows SITE_URL -------------------------------------------------------
# With an https:// SITE_URL and DEBUG off, plain HTTP is redirected (except /healthz), cookies are
# secure, HSTS is sent and `manage.py check --deploy` passes. With an http:// SITE_URL nothing is
# redirected: the BPS is reached over plain HTTP (a private network, or a proxy that speaks HTTP
# to it), and a redirect would send every client to an https:// address that does not exist.
# Whether a request came over HTTPS through a proxy is settled by paysite/proxy.py from
# TRUSTED_PROXIES only, so SECURE_PROXY_SSL_HEADER stays unset (it would believe any client).
_https = SITE_URL.startswith("https://") and not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

# --- django-axes: the admin sign-in lockout (midoffice/login_lockout.py) ---------------------
AXES_HANDLER = "midoffice.login_lockout.AddressCappedLockoutHandler"
# Failures counted per username-and-address pair (capped at AXES_FAILURE_LIMIT) and per address
# alone (capped at ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS by the handler).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = ADMIN_LOGIN_MAX_FAILURES
AXES_COOLOFF_TIME = timedelta(seconds=ADMIN_LOGIN_WINDOW)
# The client as paysite/proxy.py settled it (never a header the client chose).
AXES_CLIENT_IP_CALLABLE = "paysite.proxy.client_address"
AXES_RESET_ON_SUCCESS = True
# A try while locked out neither counts nor restarts the wait: the lock ends one window after the
# failure that set it, as the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "admin/midoffice/locked_out.html"
# No banner on every manage.py and celery start; failures and lockouts are still logged as warnings.
AXES_VERBOSE = False

# --- Django REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["checkout.api_keys.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["checkout.api_keys.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["paysite.json_body.JSONParser"],
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
    CELERY_BROKER_URL = "filesystem://localhost/"  # a hostname, or kombu warns on every connection
    CELERY_BROKER_TRANSPORT = "paysite.fs_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = fs_broker_folders(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Every task is idempotent, so it is acknowledged only after it ran: a killed worker's task
# comes back. Hours-later work comes from due-time columns, never from long countdowns, so the
# Redis visibility timeout only has to outlast the longest task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
# Celery's Django fix-up closes every database connection before and after each task, and in a
# prefork worker closes the whole psycopg pool too: each task then opened new connections to
# PostgreSQL (a server process forked for each). The pool is kept for this many tasks instead;
# each task still hands its connection back to the pool when it ends (paysite/celery.py), and the
# pool checks a connection before handing it out (CONN_HEALTH_CHECKS), so a connection that broke
# meanwhile (PostgreSQL restarted) is replaced instead of failing the next tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Several beats may run (one per host, so that the scheduler survives a host): every periodic task
# only rings doorbells for work whose due time is a database column, claimed with SELECT … FOR
# UPDATE SKIP LOCKED under a claim number that the task must present (compare-and-set; a payment's
# poll claim is a row of its own, payments/polling.py), or it locks and re-checks each row
# (expiry), or it deletes what is old (pruning). A second beat's ring therefore finds nothing due,
# or a stale claim: it never adds a poll of a payment (paysite/tests/test_e2e_scale_out.py runs two
# beats and kills one). Due times are written with each host's clock, so the hosts' clocks must
# agree (NTP) to well within one poll lease. Each beat keeps its own schedule file (`celery beat
# --schedule`). Each periodic message expires after its own period, so a stopped worker does not
# come back to a pile of stale copies.
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
    "deliver-storefront-events": {
        "task": "payments.tasks.deliver_due_events",
        "schedule": NOTIFY_SWEEP_INTERVAL,
        "options": {"expires": NOTIFY_SWEEP_INTERVAL},
    },
    "expire-checkouts": {"task": "checkout.tasks.expire_checkouts", "schedule": 60.0, "options": {"expires": 60.0}},
    "prune-psp-calls": {"task": "payments.tasks.prune_psp_calls", "schedule": 3600.0, "options": {"expires": 3600.0}},
    "prune-poll-claims": {
        "task": "payments.tasks.prune_poll_claims", "schedule": 3600.0, "options": {"expires": 3600.0},
    },
    "prune-webhook-bodies": {
        "task": "webhooks.tasks.prune_webhook_bodies", "schedule": 3600.0, "options": {"expires": 3600.0},
    },
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
    # urllib3 logs every request line at DEBUG, GET /v1/sessions/{token} among them.
    "loggers": {
        "django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}, "urllib3": {"level": "INFO"},
    },
}
