from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from kinobill_admin.views import audit, dashboard, money, ops, plans, subscriptions

admin.site.site_header = "Kinobill staff accounts"
admin.site.site_title = "Kinobill"

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(template_name="kinobill_admin/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
    path("plans/", plans.plan_list, name="plan_list"),
    path("plans/new/", plans.plan_create, name="plan_create"),
    path("plans/<uuid:plan_id>/", plans.plan_edit, name="plan_edit"),
    path("plans/<uuid:plan_id>/end-sale/", plans.plan_end_sale, name="plan_end_sale"),
    path("subscriptions/", subscriptions.subscription_list, name="subscription_list"),
    path(
        "subscriptions/<uuid:subscription_id>/", subscriptions.subscription_detail, name="subscription_detail"
    ),
    path(
        "subscriptions/<uuid:subscription_id>/cancel/",
        subscriptions.subscription_cancel,
        name="subscription_cancel",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/refund/",
        subscriptions.subscription_refund,
        name="subscription_refund",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/reconcile/",
        subscriptions.subscription_reconcile,
        name="subscription_reconcile",
    ),
    path("payments/", money.payment_list, name="payment_list"),
    path("payments/export.csv", money.payment_csv, name="payment_csv"),
    path("payments/<uuid:payment_id>/", money.payment_detail, name="payment_detail"),
    path("refunds/", money.refund_list, name="refund_list"),
    path("refunds/export.csv", money.refund_csv, name="refund_csv"),
    path("refunds/<uuid:refund_id>/", money.refund_detail, name="refund_detail"),
    path("audit/", audit.audit_list, name="audit_list"),
    # Staff accounts and group membership (superusers): Django's own admin, over the admin schema only.
    path("accounts/", admin.site.urls),
]
