"""`python -m kinobill_admin` as its own process: probes, static files, login page, clean SIGTERM."""

from __future__ import annotations

import signal

import httpx


def test_the_server_answers_probes_static_files_and_the_login_page(admin_process):
    base = admin_process.base_url
    assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz", timeout=5).json() == {"status": "ok"}
    css = httpx.get(f"{base}/static/kinobill_admin/admin.css", timeout=5)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    django_css = httpx.get(f"{base}/static/admin/css/base.css", timeout=5)  # Django's own admin site
    assert django_css.status_code == 200
    page = httpx.get(f"{base}/", timeout=5)
    assert page.status_code == 302 and page.headers["location"].startswith("/login/")
    assert "csrfmiddlewaretoken" in httpx.get(f"{base}/login/", timeout=5).text


def test_sigterm_stops_a_second_instance_cleanly(django_ready, admin_env, service_env, infra_dir):
    """A second pod on the same database: migrate is a no-op under the lock, then SIGTERM exits 0."""
    import sys

    from support import ServiceProcess, free_port

    port = free_port()
    proc = ServiceProcess(
        "admin-2",
        [sys.executable, "-m", "kinobill_admin", "--port", str(port)],
        {**service_env, **admin_env},
        infra_dir,
        f"http://127.0.0.1:{port}/healthz",
    ).start(timeout=60)
    assert proc.stop(signal.SIGTERM, timeout=20) == 0
    assert "Shutting down" in proc.log_tail(20) or "Finished server process" in proc.log_tail(20)
