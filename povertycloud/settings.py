"""The one settings module. Every difference between machines comes from environment variables.

DJANGO_ENV       development (default) | test | production
DJANGO_DEBUG     off unless set to 1/true
DJANGO_SECRET_KEY  required when DJANGO_ENV=production
DATABASE_URL     PostgreSQL in production (postgres://user@host:5432/name);
                 the SQLite file var/povertycloud.sqlite3 otherwise
DATABASE_ROLE    a PostgreSQL role to SET on connecting (the owner role, for migrations)
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from povertycloud.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("POVERTYCLOUD_VAR_DIR", str(BASE_DIR / "var")))
# Exports are prepared in the background under VAR_DIR/downloads and deleted this many hours after they are ready.
DOWNLOAD_RETENTION_HOURS = env_int("DOWNLOAD_RETENTION_HOURS", 24)

ENVIRONMENT = env_str("DJANGO_ENV", "development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production.")
    SECRET_KEY = "povertycloud-development-key-never-used-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "import_export",
    "django_tasks",
    "django_tasks_db",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "povertycloud",
    "povertycloud.regions",
    "povertycloud.accounts",
    "povertycloud.audit",
    "povertycloud.downloads",
    "households",
    "exchange",
    "risk",
    "resources",
    "eligibility",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "povertycloud.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "povertycloud.middleware.SessionIdleMiddleware",
    "povertycloud.middleware.AuditActorMiddleware",
    "households.middleware.CodebookPerRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "povertycloud.urls"
WSGI_APPLICATION = "povertycloud.wsgi.application"
ASGI_APPLICATION = "povertycloud.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "povertycloud" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "povertycloud.downloads.context.downloads",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    # Migrations run as the role that owns the tables (manage.py setup_database_roles): the login user sets
    # it on each connection (SET ROLE), e.g. DATABASE_ROLE=povertycloud_owner for `manage.py migrate` only.
    if env_str("DATABASE_ROLE"):
        DATABASES["default"].setdefault("OPTIONS", {})["assume_role"] = env_str("DATABASE_ROLE")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "povertycloud.sqlite3")),
            "OPTIONS": {
                # WAL lets the web app read while a background job writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The header's language switch sets this cookie; kept for a year, so the choice outlives the session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "povertycloud" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# Outside production, WhiteNoise serves static files straight from the apps (no collectstatic step).
WHITENOISE_USE_FINDERS = not PRODUCTION

# Sessions end after 30 minutes without a request.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 30 * 60)
# The idle lifetime is counted from the last request to within SESSION_TOUCH_SECONDS
# (povertycloud.middleware.SessionIdleMiddleware), not by writing the session on every request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_TOUCH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy of every response (povertycloud.middleware): the project's own files only. No page
# has an inline script, inline style or style attribute (keep it so: a script goes in static/js, a colour
# in site.css); charts are inline SVG, which needs nothing more.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)

# The department API (exchange.api): department systems authenticate with a token of their client (never a
# session), every answer is JSON, and every error has one shape (exchange.api.errors). Rates are per client
# (ApiClient.rate_per_minute); the schema and its documentation page are generated by drf-spectacular and served
# from this site (drf-spectacular-sidecar ships Swagger UI's files: no CDN).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["exchange.api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["exchange.api.auth.IsActiveClient"],
    "DEFAULT_THROTTLE_CLASSES": ["exchange.api.auth.ClientRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "exchange.api.errors.handle_exception",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "povertycloud API",
    "DESCRIPTION": (
        "扶贫云部门数据交换接口。部门系统以令牌（Authorization: Bearer pc_…）调用：报送记录进入与上传文件相同的"
        "导入流程（来源可溯），读取本部门有权读取的数据，每次读取记入共享记录（去向可查）。\n\n"
        "The povertycloud department data exchange. Department systems call it with a token (Authorization: Bearer "
        "pc_…): pushed records go through the same import pipeline as uploaded files, and every read is recorded "
        "as a share. Messages follow Accept-Language (zh-hans by default, en)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# Failed logins are counted per account (the user name as Django authenticates it) and per address
# (povertycloud.accounts.throttle). The account is locked after 5; the address only after many more (50), so that
# one office behind one address is not locked out by a colleague's typos, while a guesser spraying many
# accounts from one address still is.
LOGIN_THROTTLE_ATTEMPTS = env_int("LOGIN_THROTTLE_ATTEMPTS", 5)
LOGIN_THROTTLE_ADDRESS_ATTEMPTS = env_int("LOGIN_THROTTLE_ADDRESS_ATTEMPTS", 50)
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 15 * 60)

# A refused form post (a missing or stale CSRF token) gets the site's own 403 page, in the user's language.
CSRF_FAILURE_VIEW = "povertycloud.views.csrf_failure"

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# A file cache, not a per-process one, so that a background job's progress reaches the web process.
# A test run gets a directory of its own (inherited by the commands it starts as subprocesses) so that
# two runs at once, e.g. on SQLite and on PostgreSQL, do not share login throttles or progress.
if ENVIRONMENT == "test" and not env_str("POVERTYCLOUD_CACHE_DIR"):
    os.environ["POVERTYCLOUD_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"povertycloud-{os.getpid()}")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env_str("POVERTYCLOUD_CACHE_DIR", str(VAR_DIR / "cache")),
    }
}
if env_str("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("REDIS_URL"),
        }
    }

IMPORT_EXPORT_SKIP_ADMIN_LOG = True

# Long work (a department file import) runs as a task: queued in the database and run by
# `manage.py db_worker`; the test run executes tasks at once, in the caller.
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if ENVIRONMENT == "test"
            else "django_tasks_db.DatabaseBackend"
        )
    }
}

# Region-wide jobs above county level run one county a partition on Dask (povertycloud.cluster): on the
# scheduler at DASK_SCHEDULER_ADDRESS (tcp://host:8786) when set, else on a LocalCluster of this machine with
# DASK_LOCAL_WORKERS single-threaded worker processes (0: one per core).
DASK_SCHEDULER_ADDRESS = env_str("DASK_SCHEDULER_ADDRESS", "")
DASK_LOCAL_WORKERS = env_int("DASK_LOCAL_WORKERS", 0)
DASK_CONNECT_SECONDS = env_int("DASK_CONNECT_SECONDS", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused request (403, 400) is logged as one warning line with its reason, not a traceback.
    "filters": {"refusal_without_traceback": {"()": "povertycloud.logs.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"filters": ["refusal_without_traceback"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}

SITE_TITLE = _("扶贫云 · 防止返贫动态监测")
