"""The ModelAdmins: Django's admin over the services' tables (read-only) and the audit log.

Reads go through the unmanaged models; every change is a call to a service's internal API
(`kinobill_admin.operations`, the plan form), audited whatever the answer. Change lists are sized for
production: no full counts (`paging.EstimatedCountPaginator`), filters with fixed choices (never a
``SELECT DISTINCT`` over a big table), searches that are exact lookups on indexed columns, and any bad
filter value is a 400, never a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote as url_quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kinobill.domain.money import format_rub
from kinobill_admin import clock, operations
from kinobill_admin.csvexport import EXPORT_LIMIT, csv_response
from kinobill_admin.forms import PLAN_FIELDS, PlanAdminForm
from kinobill_admin.models import (
    AuditEntry,
    BillingEmail,
    CardChange,
    OperatorTask,
    Payment,
    Plan,
    ProviderNotification,
    Refund,
    Subscription,
    SubscriptionEmail,
    SubscriptionPeriod,
)
from kinobill_admin.paging import EstimatedCountPaginator

MAX_SEARCH = 200
EVENT_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)+")  # YooKassa's events: payment.succeeded, refund.succeeded…
MAX_SELECTED = 100  # rows one action may act on (each is a call to a service)
MAX_NOTE = 2000  # an operator's note on a resolved task (Billing's bound)


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def valid_pk(model: type[Model], value: str) -> bool:
    """Whether ``value`` can be a primary key of ``model`` (a UUID, or an integer within bigint)."""
    try:
        pk = model._meta.pk.to_python(value)
    except (ValidationError, ValueError):
        return False
    return not isinstance(pk, int) or abs(pk) < 2**63


def choices_filter(
    field: str, title: str, choices: Sequence[tuple[str, str]], implies: dict[str, str] | None = None
) -> type[admin.SimpleListFilter]:
    """A filter over a fixed set of values: no query to list them, an unknown value is a 400.
    ``implies``: conditions every matching row meets anyway, added so a partial index applies."""

    class FixedChoices(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[str, str]]:
            return choices

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            if value is None:
                return queryset
            if value not in {key for key, _label in choices}:
                raise IncorrectLookupParameters(f"unknown {field}: {value[:40]!r}")
            return queryset.filter(**{field: value, **(implies or {})})

    FixedChoices.title = title
    FixedChoices.__name__ = f"{field.title().replace('_', '')}Filter"
    return FixedChoices


MONEY_STATUSES = [("pending", "pending"), ("succeeded", "succeeded"), ("canceled", "canceled")]
CARD_CHANGE_STATUSES = [("pending", "pending"), ("active", "active"), ("canceled", "canceled")]
SUBSCRIPTION_STATUSES = [("awaiting_payment", "awaiting payment"), ("active", "active"), ("ended", "ended")]
ENDED_REASONS = [(r, r) for r in ("cancelled", "refunded", "payment_failed", "expired")]
PERIODS = [("month", "month"), ("year", "year")]
PAYMENT_KINDS = [("initial", "initial"), ("renewal", "renewal")]


def rub(field: str, label: Any) -> Callable[[Any, Any], str]:
    """A list/detail column showing a kopecks column in rubles."""

    def show(_admin: Any, obj: Any) -> str:  # becomes a ModelAdmin method
        value = getattr(obj, field)
        return "" if value is None else f"{format_rub(value)} ₽"

    show.short_description = label  # type: ignore[attr-defined]
    show.admin_order_field = field  # type: ignore[attr-defined]
    return show


def link(obj: Model | None, text: str | None = None) -> str:
    if obj is None:
        return ""
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in r)),) for r in rows)
    )
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    if not body:
        return _("none")
    return format_html(
        '<table class="kb-related"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
    )


PK_SLOT = "__pk__"


class KinobillChangeList(ChangeList):
    """Django's change list, with each row's link made without two walks of the URL configuration.

    Django reverses every row's change URL, then resolves it again to add the list's filters
    (``add_preserved_filters``): with 50 rows, a tenth of the page's rendering. Here the URL is reversed
    once per page and the filters are added as ``add_preserved_filters`` would add them, so the rows get
    the same links (opening a row and coming back keeps the filters)."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.row_link_query: str = self.preserved_filters  # type: ignore[has-type]
        self.preserved_filters = ""  # only the rows' links read it: they now carry the filters
        self.change_url_pattern = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(PK_SLOT,),
            current_app=self.model_admin.admin_site.name,
        )

    def url_for_result(self, result: Model) -> str:
        # as reverse() would put the admin-quoted key into the path
        pk = url_quote(str(quote(getattr(result, self.pk_attname))), safe=RFC3986_SUBDELIMS + "/~:@")
        url = self.change_url_pattern.replace(PK_SLOT, pk)
        return f"{url}?{self.row_link_query}" if self.row_link_query else url

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.count_estimated = getattr(self.paginator, "estimated", False)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A service table: view (and maybe export or act through an API), never add, change or delete."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    list_max_show_all = 200
    # every column of the table, in the order of the model, so new columns appear without a change here
    extra_detail: tuple[str, ...] = ()
    csv_columns: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def action_checkbox(self, obj: Model) -> str:
        # Django renders a CheckboxInput widget through the form template engine for every row, a fifth
        # of a change list's rendering time; this is the same markup, formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            admin.helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.extra_detail, *(f.name for f in self.model._meta.concrete_fields)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.get_fields(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not valid_pk(self.model, object_id):  # a malformed id is no row, not a database error
            raise Http404
        return super().change_view(request, object_id, form_url, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return KinobillChangeList

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        # Django would redirect to "?e=1" ("database error"); a bad filter or page is the client's error
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest(_("Invalid filter, date or page number: %(error)s") % {"error": exc}) from exc

    def search_q(self, term: str) -> Q | None:
        return None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if "\x00" in term or len(term) > MAX_SEARCH:
            raise BadRequest(_("The search text is too long or contains a NUL character."))
        q = self.search_q(term)
        return (queryset.filter(q) if q is not None else queryset.none()), False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if "\x00" in value:
            raise BadRequest(_("A filter value contains a NUL character."))
        return super().lookup_allowed(lookup, value, request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.export_{opts.model_name}")

    @admin.action(description=gettext_lazy("Export the selected rows as CSV"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        from kinobill_admin import audit

        opts = self.model._meta
        audit.record(
            request,
            f"{opts.model_name}.export_csv",
            target_type=opts.model_name or "",
            details={
                "filters": request.GET.dict(),
                "selected": len(request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)),
            },
        )
        rows = (
            [getattr(row, c) for c in self.csv_columns]
            for row in queryset[:EXPORT_LIMIT].iterator(chunk_size=2000)
        )
        return csv_response(f"{opts.model_name}s", self.csv_columns, rows)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        # Django filters pk__in=<the ticked ids> as given; a malformed one would be a 500
        for value in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
            if not valid_pk(self.model, value):
                raise BadRequest(_("A selected row id is not valid: %(id)r") % {"id": value[:60]})
        return super().response_action(request, queryset)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        for key, value in request.GET.lists():
            if any("\x00" in v for v in [key, *value]):
                raise BadRequest(_("A filter value contains a NUL character."))
        return super().changelist_view(request, extra_context)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        return self.fields or ()


class PeriodInline(ReadOnlyInline):
    model = SubscriptionPeriod
    fields = ("period_index", "starts_at", "ends_at", "period_amount", "payment_id")
    show_change_link = False

    @admin.display(description=gettext_lazy("amount"))
    def period_amount(self, obj: SubscriptionPeriod) -> str:
        return f"{format_rub(obj.amount)} ₽"


class PaymentInline(ReadOnlyInline):
    model = Payment
    fk_name = "subscription"
    fields = (
        "created_at",
        "kind",
        "period_index",
        "attempt",
        "payment_amount",
        "status",
        "paid_at",
        "provider_payment_id",
    )

    @admin.display(description=gettext_lazy("amount"))
    def payment_amount(self, obj: Payment) -> str:
        return f"{format_rub(obj.amount)} ₽"


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("created_at", "refund_amount", "status", "succeeded_at", "provider_refund_id")

    @admin.display(description=gettext_lazy("amount"))
    def refund_amount(self, obj: Refund) -> str:
        return f"{format_rub(obj.amount)} ₽"


class SubscriptionRefundInline(RefundInline):
    fk_name = "subscription"


class PaymentRefundInline(RefundInline):
    fk_name = "payment"


def notifications_table(object_ids: list[str]) -> str:
    rows = ProviderNotification.objects.filter(object_id__in=[i for i in object_ids if i])[:100]
    return table(
        [_("received"), _("event"), _("object"), _("outcome"), _("from")],
        ((link(n, str(n.received_at)), n.event, n.object_id, n.outcome, n.remote_addr) for n in rows),
    )


def audit_table(target_type: str, target_id: str) -> str:
    rows = AuditEntry.objects.filter(target_type=target_type, target_id=target_id)[:50]
    return table(
        [_("when"), _("who"), _("action"), _("outcome"), _("message")],
        ((link(e, str(e.at)), e.actor_name, e.action, e.outcome, e.message) for e in rows),
    )


# --- plans -------------------------------------------------------------------------------------------


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    form = PlanAdminForm
    list_display = ("name", "code", "price_month_rub", "price_year_rub", "on_sale", "sale_start", "sale_end")
    list_filter = (("sale_end", admin.EmptyFieldListFilter),)
    search_fields = ("code", "name")
    search_help_text = gettext_lazy("Plan code or name (exact).")
    actions = ["end_sale_selected"]
    extra_detail = ("on_sale",)
    change_form_template = "admin/kinobill_admin/plan/change_form.html"
    price_month_rub = rub("price_month", gettext_lazy("monthly price"))
    price_year_rub = rub("price_year", gettext_lazy("yearly price"))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.has_perm("kinobill_admin.add_plan")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("kinobill_admin.change_plan")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None or self.has_change_permission(request, obj):
            return list(PLAN_FIELDS)
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None or self.has_change_permission(request, obj):
            return []
        return super().get_readonly_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if "\x00" in term or len(term) > MAX_SEARCH:
            raise BadRequest(_("The search text is too long or contains a NUL character."))
        if not term:
            return queryset, False
        return queryset.filter(Q(code__iexact=term) | Q(name__icontains=term)), False

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        # The form's validation already saved through the Subscriptions API; show what the service stored.
        stored = Plan.objects.get(pk=form.api_result["id"])
        obj.__dict__.update({f.attname: getattr(stored, f.attname) for f in Plan._meta.concrete_fields})

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    @admin.display(description=gettext_lazy("on sale now"), boolean=True)
    def on_sale(self, obj: Plan) -> bool:
        return obj.on_sale_at(clock.now())

    @admin.action(description=gettext_lazy("End the sale of the selected plans"), permissions=["change"])
    def end_sale_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for plan in queryset[:MAX_SELECTED]:
            outcome = operations.end_sale(request, plan)
            self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/end-sale/",
                self.admin_site.admin_view(self.end_sale_view),
                name="kinobill_admin_plan_end_sale",
            ),
            *super().get_urls(),
        ]

    def end_sale_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        plan = self.get_object(request, object_id)
        if plan is None:
            raise Http404
        if not self.has_change_permission(request, plan):
            raise PermissionDenied
        outcome = operations.end_sale(request, plan)
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:kinobill_admin_plan_change", args=[plan.pk]))


# --- subscriptions -----------------------------------------------------------------------------------


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user_email",
        "plan",
        "period",
        "status",
        "auto_renew",
        "card_declined_reason",
        "price_rub",
        "current_period_end",
        "created_at",
    )
    list_filter = (
        choices_filter("status", gettext_lazy("status"), SUBSCRIPTION_STATUSES),
        ("plan", admin.RelatedFieldListFilter),
        choices_filter("period", gettext_lazy("period"), PERIODS),
        "auto_renew",
        choices_filter("ended_reason", gettext_lazy("ended reason"), ENDED_REASONS, {"status": "ended"}),
        "current_period_end",
        "created_at",
    )
    list_select_related = ("plan",)
    search_fields = ("=id", "=user_id", "=user_email")
    search_help_text = gettext_lazy("A subscription id, a user id or an e-mail address (exact).")
    inlines = [PeriodInline, PaymentInline, SubscriptionRefundInline]
    extra_detail = ("price_rub", "emails", "notifications", "actions_taken")
    actions = ["cancel_selected", "refund_selected", "reconcile_selected"]
    change_form_template = "admin/kinobill_admin/subscription/change_form.html"
    price_rub = rub("price", gettext_lazy("price"))

    def search_q(self, term: str) -> Q | None:
        as_id = as_uuid(term)
        if as_id is not None:
            return Q(id=as_id) | Q(user_id=as_id)
        if "@" in term:
            return Q(user_email__iexact=term)
        return None

    @admin.display(description=gettext_lazy("e-mails to this user"))
    def emails(self, obj: Subscription) -> str:
        rows = sorted(
            [
                *SubscriptionEmail.objects.filter(user_id=obj.user_id)[:50],
                *BillingEmail.objects.filter(user_id=obj.user_id)[:50],
            ],
            key=lambda e: e.created_at,
            reverse=True,
        )
        return table(
            [_("created"), _("kind"), _("to"), _("subject"), _("sent")],
            ((link(e, str(e.created_at)), e.kind, e.to_address, e.subject, e.sent_at or "—") for e in rows),
        )

    @admin.display(description=gettext_lazy("provider notifications"))
    def notifications(self, obj: Subscription) -> str:
        ids = list(
            Payment.objects.filter(subscription_id=obj.pk).values_list("provider_payment_id", flat=True)
        )
        ids += list(
            Refund.objects.filter(subscription_id=obj.pk).values_list("provider_refund_id", flat=True)
        )
        return notifications_table(ids)

    @admin.display(description=gettext_lazy("staff actions"))
    def actions_taken(self, obj: Subscription) -> str:
        return audit_table("subscription", str(obj.pk))

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("kinobill_admin.cancel_subscription")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("kinobill_admin.refund_subscription")

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("kinobill_admin.reconcile_subscription")

    def _report(self, request: HttpRequest, outcome: operations.Outcome) -> None:
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)

    @admin.action(
        description=gettext_lazy("Cancel the selected subscriptions (auto-renew off)"), permissions=["cancel"]
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for sub in queryset[:MAX_SELECTED]:
            self._report(request, operations.cancel(request, sub))

    @admin.action(
        description=gettext_lazy("Re-run reconciliation for the selected subscriptions"),
        permissions=["reconcile"],
    )
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for sub in queryset[:MAX_SELECTED]:
            self._report(request, operations.reconcile(request, sub))

    @admin.action(description=gettext_lazy("Refund the selected subscriptions…"), permissions=["refund"])
    def refund_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        subs = list(queryset[:MAX_SELECTED])
        if request.POST.get("confirmed") == "yes":
            for sub in subs:
                key = (request.POST.get(f"key-{sub.pk}") or "").strip()[:200]
                if not key:
                    self.message_user(
                        request,
                        _("No refund key for %(id)s: open the confirmation again.") % {"id": sub.pk},
                        messages.ERROR,
                    )
                    continue
                self._report(request, operations.refund(request, sub, key))
            return None
        return self.refund_confirmation(request, subs, selected_action=True)

    def refund_confirmation(
        self, request: HttpRequest, subs: list[Subscription], *, selected_action: bool
    ) -> TemplateResponse:
        rows = [(sub, operations.refund_estimate(sub), operations.new_refund_key()) for sub in subs]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Refund: are you sure?"),
            "opts": self.model._meta,
            "rows": rows,
            "selected_action": selected_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "now": clock.now(),
        }
        return TemplateResponse(
            request, "admin/kinobill_admin/subscription/refund_confirmation.html", context
        )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/cancel/", view(self.cancel_view), name="kinobill_admin_subscription_cancel"
            ),
            path(
                "<path:object_id>/refund/", view(self.refund_view), name="kinobill_admin_subscription_refund"
            ),
            path(
                "<path:object_id>/reconcile/",
                view(self.reconcile_view),
                name="kinobill_admin_subscription_reconcile",
            ),
            *super().get_urls(),
        ]

    def _subscription_for(
        self, request: HttpRequest, object_id: str, allowed: Callable[[HttpRequest], bool]
    ) -> Subscription:
        if not allowed(request):
            raise PermissionDenied
        if as_uuid(object_id) is None:
            raise Http404
        sub = self.get_object(request, object_id)
        if sub is None:
            raise Http404
        return sub

    def _back(self, sub: Subscription) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:kinobill_admin_subscription_change", args=[sub.pk]))

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sub = self._subscription_for(request, object_id, self.has_cancel_permission)
        self._report(request, operations.cancel(request, sub))
        return self._back(sub)

    def reconcile_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sub = self._subscription_for(request, object_id, self.has_reconcile_permission)
        self._report(request, operations.reconcile(request, sub))
        return self._back(sub)

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        sub = self._subscription_for(request, object_id, self.has_refund_permission)
        if request.method == "POST":
            key = (request.POST.get(f"key-{sub.pk}") or "").strip()[:200]
            if not key:
                raise BadRequest(_("The refund key is missing: open the confirmation page again."))
            self._report(request, operations.refund(request, sub, key))
            return self._back(sub)
        return self.refund_confirmation(request, [sub], selected_action=False)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context.update(  # which object tools this user gets
            can_cancel=self.has_cancel_permission(request),
            can_refund=self.has_refund_permission(request),
            can_reconcile=self.has_reconcile_permission(request),
        )
        return super().render_change_form(request, context, *args, **kwargs)


# --- money -------------------------------------------------------------------------------------------


class MoneyAdmin(ReadOnlyAdmin):
    """Payments and refunds: CSV export, the subscription, YooKassa's object and its notifications."""

    actions = ["export_csv"]
    provider_id_field = ""

    @admin.display(description=gettext_lazy("subscription"))
    def subscription_link(self, obj: Payment | Refund) -> str:
        url = reverse("admin:kinobill_admin_subscription_change", args=[obj.subscription_id])
        return format_html('<a href="{}">{}</a>', url, obj.subscription_id)

    @admin.display(description=gettext_lazy("YooKassa's object"))
    def provider_object_pretty(self, obj: Payment | Refund) -> str:
        return pretty_json(obj.provider_object)

    @admin.display(description=gettext_lazy("provider notifications"))
    def notifications(self, obj: Payment | Refund) -> str:
        return notifications_table([getattr(obj, self.provider_id_field) or ""])


@admin.register(Payment)
class PaymentAdmin(MoneyAdmin):
    list_display = (
        "id",
        "created_at",
        "amount_rub",
        "status",
        "cancellation_reason",
        "receipt_registration",
        "kind",
        "user_email",
        "provider_payment_id",
        "paid_at",
    )
    list_filter = (
        choices_filter("status", gettext_lazy("status"), MONEY_STATUSES),
        choices_filter("kind", gettext_lazy("kind"), PAYMENT_KINDS),
        "created_at",
        "paid_at",
    )
    search_fields = ("=id", "=user_id", "=subscription__id", "=user_email", "=provider_payment_id")
    search_help_text = gettext_lazy(
        "A payment, user or subscription id, an e-mail address or YooKassa's payment id (exact)."
    )
    inlines = [PaymentRefundInline]
    extra_detail = (
        "amount_rub",
        "refunded_rub",
        "subscription_link",
        "provider_object_pretty",
        "notifications",
    )
    csv_columns = (
        "id",
        "created_at",
        "paid_at",
        "status",
        "provider_status",
        "amount",
        "refunded_amount",
        "currency",
        "kind",
        "subscription_id",
        "period_index",
        "user_id",
        "user_email",
        "provider_payment_id",
        "cancellation_reason",
        "receipt_registration",
    )
    amount_rub = rub("amount", gettext_lazy("amount"))
    refunded_rub = rub("refunded_amount", gettext_lazy("refunded"))
    provider_id_field = "provider_payment_id"

    def search_q(self, term: str) -> Q | None:
        as_id = as_uuid(term)
        if as_id is not None:
            return Q(id=as_id) | Q(user_id=as_id) | Q(subscription_id=as_id)
        if "@" in term:
            return Q(user_email__iexact=term)
        return Q(provider_payment_id=term)


@admin.register(Refund)
class RefundAdmin(MoneyAdmin):
    list_display = (
        "id",
        "created_at",
        "amount_rub",
        "status",
        "receipt_registration",
        "payment_link",
        "provider_refund_id",
        "succeeded_at",
    )
    list_filter = (
        choices_filter("status", gettext_lazy("status"), MONEY_STATUSES),
        "created_at",
        "succeeded_at",
    )
    search_fields = (
        "=id",
        "=user_id",
        "=subscription__id",
        "=payment__id",
        "=provider_refund_id",
        "=payment__user_email",
    )
    search_help_text = gettext_lazy(
        "A refund, user, subscription or payment id, the payer's e-mail or YooKassa's refund id (exact)."
    )
    extra_detail = (
        "amount_rub",
        "payment_link",
        "subscription_link",
        "provider_object_pretty",
        "notifications",
    )
    csv_columns = (
        "id",
        "created_at",
        "succeeded_at",
        "status",
        "amount",
        "currency",
        "payment_id",
        "subscription_id",
        "user_id",
        "provider_refund_id",
        "cancellation_reason",
    )
    amount_rub = rub("amount", gettext_lazy("amount"))
    provider_id_field = "provider_refund_id"

    def search_q(self, term: str) -> Q | None:
        as_id = as_uuid(term)
        if as_id is not None:
            return Q(id=as_id) | Q(user_id=as_id) | Q(subscription_id=as_id) | Q(payment_id=as_id)
        if "@" in term:
            user_ids = Payment.objects.filter(user_email__iexact=term).values("user_id")
            return Q(user_id__in=user_ids)
        return Q(provider_refund_id=term)

    @admin.display(description=gettext_lazy("payment"))
    def payment_link(self, obj: Refund) -> str:
        url = reverse("admin:kinobill_admin_payment_change", args=[obj.payment_id])
        return format_html('<a href="{}">{}</a>', url, obj.payment_id)


def pretty_json(value: Any) -> str:
    if value is None:
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


@admin.register(ProviderNotification)
class ProviderNotificationAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event", "object_id", "outcome", "remote_addr")
    list_filter = ("received_at",)
    search_fields = ("=object_id", "=event")
    search_help_text = gettext_lazy("YooKassa's payment or refund id, or an event name (exact).")
    extra_detail = ("body_pretty",)

    def search_q(self, term: str) -> Q | None:
        # one indexed lookup, not an OR of two (which Postgres answers by reading every row)
        return Q(event=term) if EVENT_NAME.fullmatch(term) else Q(object_id=term)

    @admin.display(description=gettext_lazy("body"))
    def body_pretty(self, obj: ProviderNotification) -> str:
        return pretty_json(obj.body)


class ResolvedFilter(admin.SimpleListFilter):
    title = gettext_lazy("resolved")
    parameter_name = "resolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if value not in ("yes", "no"):
            raise IncorrectLookupParameters(f"unknown resolved: {value[:40]!r}")
        return queryset.filter(resolved_at__isnull=value == "no")


class ResolveActionForm(admin.helpers.ActionForm):
    """The change list's action bar, with the note a "mark resolved" records."""

    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, max_length=MAX_NOTE, strip=True, widget=forms.TextInput
    )


@admin.register(OperatorTask)
class OperatorTaskAdmin(ReadOnlyAdmin):
    """Work to do by hand, e.g. a receipt YooKassa could not register (issue it another way); an operator
    who has done it marks it resolved (Billing records who, when and the note)."""

    list_display = ("created_at", "kind", "object_type", "object_id", "detail", "resolved_at", "resolved_by")
    list_filter = ("kind", ResolvedFilter, "created_at")
    search_fields = ("=object_id",)
    search_help_text = gettext_lazy("The payment or refund id (exact).")
    actions = ["resolve_selected"]
    action_form = ResolveActionForm
    extra_detail = ("actions_taken",)

    def search_q(self, term: str) -> Q | None:
        return Q(object_id=term)

    @admin.display(description=gettext_lazy("staff actions"))
    def actions_taken(self, obj: OperatorTask) -> str:
        return audit_table("operatortask", str(obj.pk))

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("kinobill_admin.resolve_operatortask")

    def _report(self, request: HttpRequest, outcome: operations.Outcome) -> None:
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)

    def _note(self, request: HttpRequest) -> str:
        note = (request.POST.get("note") or "").strip()
        if len(note) > MAX_NOTE or "\x00" in note:
            raise BadRequest(_("The note is too long or contains a NUL character."))
        return note

    @admin.action(description=gettext_lazy("Mark the selected tasks resolved"), permissions=["resolve"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        note = self._note(request)
        for task in queryset[:MAX_SELECTED]:
            self._report(request, operations.resolve_task(request, task, note))

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/resolve/",
                view(self.resolve_view),
                name="kinobill_admin_operatortask_resolve",
            ),
            *super().get_urls(),
        ]

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        if not valid_pk(self.model, object_id):
            raise Http404
        task = self.get_object(request, object_id)
        if task is None:
            raise Http404
        self._report(request, operations.resolve_task(request, task, self._note(request)))
        return HttpResponseRedirect(reverse("admin:kinobill_admin_operatortask_change", args=[task.pk]))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context.update(can_resolve=self.has_resolve_permission(request), max_note=MAX_NOTE)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(CardChange)
class CardChangeAdmin(ReadOnlyAdmin):
    """Users replacing a subscription's saved card (YooKassa payment methods)."""

    list_display = ("created_at", "subscription_id", "user_email", "status", "card_title", "activated_at")
    list_filter = (choices_filter("status", gettext_lazy("status"), CARD_CHANGE_STATUSES), "created_at")
    search_fields = ("=id", "=subscription_id", "=user_id", "=user_email", "=provider_method_id")
    search_help_text = gettext_lazy("A subscription or user id, an e-mail address or YooKassa's method id.")

    def search_q(self, term: str) -> Q | None:
        as_id = as_uuid(term)
        if as_id is not None:
            return Q(id=as_id) | Q(subscription_id=as_id) | Q(user_id=as_id)
        if "@" in term:
            return Q(user_email__iexact=term)
        return Q(provider_method_id=term)


class EmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "to_address", "subject", "attempts", "sent_at")
    list_filter = ("created_at", "sent_at")
    search_fields = ("=id", "=user_id", "=to_address")
    search_help_text = gettext_lazy("An e-mail id, a user id or the address (exact).")

    def search_q(self, term: str) -> Q | None:
        as_id = as_uuid(term)
        if as_id is not None:
            return Q(id=as_id) | Q(user_id=as_id)
        return Q(to_address__iexact=term)


admin.site.register(SubscriptionEmail, EmailAdmin)
admin.site.register(BillingEmail, EmailAdmin)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "target_type", "target_link", "outcome", "remote_addr")
    list_filter = (
        choices_filter("outcome", gettext_lazy("outcome"), [("ok", "ok"), ("error", "error")]),
        "action",
        "at",
    )
    search_fields = ("=actor_name", "=target_id", "^action")
    search_help_text = gettext_lazy("A staff user name, a target id (exact) or the start of an action name.")
    date_hierarchy = "at"
    actions = ["export_csv"]
    csv_columns = (
        "at",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "outcome",
        "message",
        "remote_addr",
        "details",
    )

    def search_q(self, term: str) -> Q | None:
        return Q(actor_name__iexact=term) | Q(target_id=term) | Q(action__startswith=term)

    @admin.display(description=gettext_lazy("target"))
    def target_link(self, obj: AuditEntry) -> str:
        names = {
            "subscription": "subscription",
            "plan": "plan",
            "payment": "payment",
            "refund": "refund",
            "operatortask": "operatortask",
        }
        if obj.target_type in names and obj.target_id:
            url = reverse(f"admin:kinobill_admin_{names[obj.target_type]}_change", args=[obj.target_id])
            return format_html('<a href="{}">{}</a>', url, obj.target_id)
        return obj.target_id
