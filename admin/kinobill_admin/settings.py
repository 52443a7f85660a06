"""Django settings, all from the environment (the same names as the services where they overlap).

DATABASE_URL is the services' URL, in any form ``kinobill.database_url`` reads (one host, a unix socket
directory in ``?host=``, or a Patroni host list with ``target_session_attrs``). Django's tables go to the
schema ``admin`` via ``search_path``; the service schemas are only reached through unmanaged models with
schema-qualified table names.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from kinobill.database_url import ConnectionPolicy, DatabaseUrl, DatabaseUrlError

BASE_DIR = Path(__file__).resolve().parent
ADMIN_SCHEMA = "admin"

KINOBILL_ENV = os.environ.get("KINOBILL_ENV", "dev")
PRODUCTION = KINOBILL_ENV == "production"


def database_from_url(url: str) -> dict:
    """DATABASE_URL (any form kinobill.database_url reads: one host, a socket dir, or a Patroni host list
    with target_session_attrs) → Django DATABASES entry (psycopg 3), search_path pinned to the admin
    schema, with the services' connect/statement timeouts and keepalives."""
    try:
        parsed = DatabaseUrl.parse(url or "postgresql://postgres@127.0.0.1:5432/postgres")
    except DatabaseUrlError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    database = parsed.django_database(
        ConnectionPolicy.from_env(), server_options=f"-c search_path={ADMIN_SCHEMA},public"
    )
    # A pool per process (psycopg_pool through Django): a request takes a connection and gives it back at
    # its end. Connecting for every request cost 15-20 ms on a local socket (a new server process, its
    # catalog caches cold), more over TCP with TLS; a pooled one answers in under 1 ms. Each connection is
    # checked when taken (CONN_HEALTH_CHECKS), so after a failover a dead one is dropped and its
    # replacement goes, by target_session_attrs, to the new leader; none lives longer than 10 minutes.
    database["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("ADMIN_DB_POOL_SIZE", "8")),
        "max_lifetime": 600,
        "max_idle": 300,
        "timeout": 10,  # seconds a request waits for a connection before it fails
    }
    return {
        **database,
        "CONN_MAX_AGE": 0,  # the pool keeps the connections (Django refuses both)
        "CONN_HEALTH_CHECKS": True,
        "TIME_ZONE": None,
    }


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when KINOBILL_ENV=production")
    SECRET_KEY = "dev-only-kinobill-admin-secret-key-not-for-production"

DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1" and not PRODUCTION
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS and not PRODUCTION:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

SUBSCRIPTIONS_URL = os.environ.get("SUBSCRIPTIONS_URL", "http://127.0.0.1:8001").rstrip("/")
BILLING_URL = os.environ.get("BILLING_URL", "http://127.0.0.1:8002").rstrip("/")
ADMIN_SERVICE_TOKEN = os.environ.get("ADMIN_SERVICE_TOKEN", "")
SERVICE_TIMEOUT_SECONDS = float(os.environ.get("ADMIN_SERVICE_TIMEOUT_SECONDS", "10"))

# The services' shared test clock (kinobill_admin.clock): refused in production, like the services do.
KINOBILL_TEST_CLOCK = os.environ.get("KINOBILL_TEST_CLOCK", "").strip().lower() in ("1", "true", "yes", "on")
REDIS_URL = os.environ.get("REDIS_URL", "")
if KINOBILL_TEST_CLOCK and PRODUCTION:
    raise ImproperlyConfigured("KINOBILL_TEST_CLOCK is refused when KINOBILL_ENV=production")
if KINOBILL_TEST_CLOCK and not REDIS_URL:
    raise ImproperlyConfigured("KINOBILL_TEST_CLOCK=1 needs REDIS_URL (the offset is kept in Redis)")

INSTALLED_APPS = [
    "kinobill_admin.apps.KinobillSiteConfig",  # django.contrib.admin with the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "kinobill_admin.apps.KinobillAdminConfig",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kinobill_admin.csp.ContentSecurityPolicyMiddleware",
    # last, as django-axes requires: locks out repeated failed logins (see AXES_* below)
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out username or address before the password
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed logins lock that username, and (separately) that client address, for 15 minutes; a success
# resets the count. The address is REMOTE_ADDR: the peer, or what a configured trusted proxy reported.
AXES_FAILURE_LIMIT = int(os.environ.get("ADMIN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("ADMIN_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

ROOT_URLCONF = "kinobill_admin.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "kinobill_admin.settings_context.time_zone",
            ]
        },
    }
]
ASGI_APPLICATION = "kinobill_admin.asgi.application"

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", ""))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Russian by default with Django's own translations (and this app's, in locale/); English on request
# (the browser's Accept-Language, or the language switch that posts to /i18n/setlang/).
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("ADMIN_TIME_ZONE", "Europe/Moscow")  # how operators see and enter times

STATIC_URL = "/static/"
# For images: `kinobill admin collectstatic` with ADMIN_STATIC_ROOT set; unset, nothing is collected.
STATIC_ROOT = os.environ.get("ADMIN_STATIC_ROOT") or None
# Without collectstatic (local runs, tests) WhiteNoise serves straight from the app directories.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("ADMIN_HSTS_SECONDS", "0"))  # the ingress usually sets HSTS
    # TLS ends at the ingress, which redirects to HTTPS; in-cluster probes are plain HTTP.
    SILENCED_SYSTEM_CHECKS = ["security.W008"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ADMIN_LOG_LEVEL", "INFO")},
}
