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
    login = httpx.get(f"{base}/login/", timeout=5)
    assert "csrfmiddlewaretoken" in login.text
    assert '<html lang="ru"' in login.text and "Имя пользователя" in login.text  # Russian by default
    assert "default-src 'self'" in login.headers["content-security-policy"]
    english = httpx.get(f"{base}/login/", headers={"Accept-Language": "en"}, timeout=5)
    assert "Username" in english.text


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


def test_login_and_csv_export_over_asgi(admin_process, db_engine):
    """The streamed CSV and the login form work under uvicorn, not only under the test client."""
    import re
    import uuid

    from django.contrib.auth.models import Group, User

    from shop import new_plan, paid_subscription

    name, password = f"sup-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    user = User.objects.create_user(name, password=password, is_staff=True)
    user.groups.add(Group.objects.get(name="support"))
    sub = paid_subscription(db_engine, new_plan(db_engine))
    with httpx.Client(base_url=admin_process.base_url, timeout=10) as client:
        form = client.get("/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        login = client.post(
            "/login/", data={"username": name, "password": password, "csrfmiddlewaretoken": token}
        )
        assert login.status_code == 302 and login.headers["location"] == "/"
        csrf = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": admin_process.base_url}
        export = client.post(
            "/kinobill_admin/payment/",
            data={"action": "export_csv", "_selected_action": str(sub["payment_id"])},
            headers={**csrf, "X-Forwarded-For": "185.71.76.1"},  # no trusted proxy: not believed
        )
        assert export.status_code == 200, export.text[:500]
        lines = export.text.strip().splitlines()
        assert lines[0].startswith("id,created_at,paid_at,status")
        assert len(lines) == 2 and lines[1].startswith(str(sub["payment_id"]))
        refused = client.post(f"/kinobill_admin/subscription/{sub['id']}/cancel/", headers=csrf)
        assert refused.status_code == 403  # the group's permissions, not CSRF
        history = client.get("/kinobill_admin/auditentry/", params={"q": name})
        assert "payment.export_csv" in history.text
    from kinobill_admin.models import AuditEntry

    entry = AuditEntry.objects.get(actor_name=name, action="payment.export_csv")
    assert entry.remote_addr == "127.0.0.1"  # the peer, not the forged header
