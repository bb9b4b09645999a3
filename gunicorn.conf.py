"""gunicorn's settings for povertycloud: `gunicorn -c gunicorn.conf.py povertycloud.wsgi`.

Sized for the one-machine county: pages are short reads (every long piece of work is a background job run by
`manage.py run_worker`), so threads keep the processors busy while a request waits for PostgreSQL. Each value
can be changed from the environment without editing this file. The county benchmark
(tests/benchmarks/bench_county.py) measures pages under these settings.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Two processes per processor plus one, the usual rule for a server whose requests wait on the database.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# No page computes for long: a request still running after 30 s is a fault, and the worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter, so they are not replaced all at once): the
# memory a request's pandas frames leave in the process is returned to the system.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = 200
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
