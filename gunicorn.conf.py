"""gunicorn's configuration for the web process: `gunicorn paysite.wsgi` reads this file from the
project folder. Each value can be overridden on the command line or with GUNICORN_CMD_ARGS.

The figures behind each choice are in the README ("Running at scale"), measured with `make bench`.
"""

import os

# Threads, because a request mostly waits (on PostgreSQL, and on the PSP for up to PSP_TIMEOUT
# during Buy Now); processes, because Python runs one thread at a time per process.
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
worker_class = "gthread"
# Storefront backends and the PSP keep their connections open between requests.
keepalive = 5
# A gthread worker's main loop answers gunicorn's heartbeat while its threads wait, so this only
# restarts a worker whose loop is stuck; a request's own bound is the PSP's timeouts (PSP_TIMEOUT
# for each try, PSP_MAX_ATTEMPTS tries).
timeout = 60
graceful_timeout = 30
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
