"""Forms: plan create/edit (validated here with the domain rules, then again by the service) and filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from kinobill.domain.errors import DomainError
from kinobill.domain.money import format_rub, parse_rub
from kinobill.domain.plans import MIN_PRICE, validate_plan_code
from kinobill_admin import clock
from kinobill_admin.models import Plan

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

PRICE_HELP = (
    "RUB, up to two decimals, e.g. 299.00. A price change applies to each subscriber from their next "
    "renewal (the current paid period keeps its price); the Subscriptions service e-mails the affected "
    "subscribers about it."
)


def rub_to_kopecks(value: str, label: str) -> int:
    try:
        kopecks = parse_rub(value)
    except DomainError as exc:
        raise forms.ValidationError(str(exc)) from exc
    if kopecks < MIN_PRICE:
        raise forms.ValidationError(f"{label} must be at least {format_rub(MIN_PRICE)} RUB.")
    return kopecks


class PlanForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        help_text="Short slug used in access-token claims: a-z, 0-9 and '-', starting with a letter.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    price_month = forms.CharField(label="Monthly price (RUB)", max_length=32, help_text=PRICE_HELP)
    price_year = forms.CharField(label="Yearly price (RUB)", max_length=32, help_text=PRICE_HELP)
    sale_start = forms.DateTimeField(
        required=False,
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
        help_text="In the console's time zone. Empty on create = now.",
    )
    sale_end = forms.DateTimeField(
        required=False,
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
        help_text="Empty = on sale with no end. Ending a sale never touches existing subscriptions.",
    )
    # Optimistic check on edit: the plan's updated_at when the form was opened.
    loaded_version = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, plan: Plan | None = None, **kwargs: Any) -> None:
        self.plan = plan
        if plan is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = {
                "code": plan.code,
                "name": plan.name,
                "description": plan.description,
                "price_month": plan.price_month_rub,
                "price_year": plan.price_year_rub,
                "sale_start": timezone.localtime(plan.sale_start),
                "sale_end": timezone.localtime(plan.sale_end) if plan.sale_end else None,
                "loaded_version": plan.updated_at.isoformat(),
            }
        super().__init__(*args, **kwargs)
        if plan is not None:
            self.fields["sale_start"].required = True
            self.fields["sale_start"].help_text = "In the console's time zone."

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        try:
            return validate_plan_code(code)
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_price_month(self) -> int:
        return rub_to_kopecks(self.cleaned_data["price_month"], "Monthly price")

    def clean_price_year(self) -> int:
        return rub_to_kopecks(self.cleaned_data["price_year"], "Yearly price")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start: datetime | None = data.get("sale_start")
        end: datetime | None = data.get("sale_end")
        if end is not None:
            effective_start = start or clock.now()
            if end <= effective_start:
                self.add_error("sale_end", "The sale must end after it starts.")
        if self.plan is not None and data.get("loaded_version"):
            current = Plan.objects.filter(pk=self.plan.pk).values_list("updated_at", flat=True).first()
            if current is not None and current.isoformat() != data["loaded_version"]:
                raise forms.ValidationError(
                    "Someone changed this plan after you opened it. Reload the page to see the current "
                    "values, then make your change again."
                )
        return data

    def api_body(self) -> dict[str, Any]:
        """The JSON for POST (all fields) or PATCH (only what changed) in the service's shapes."""
        data = self.cleaned_data
        body: dict[str, Any] = {
            "code": data["code"],
            "name": data["name"],
            "description": data["description"] or "",
            "price_month": format_rub(data["price_month"]),
            "price_year": format_rub(data["price_year"]),
        }
        if data.get("sale_start"):
            body["sale_start"] = data["sale_start"].isoformat()
        body["sale_end"] = data["sale_end"].isoformat() if data.get("sale_end") else None
        if self.plan is None:
            if body["sale_end"] is None:
                body.pop("sale_end")
            return body
        current = {
            "code": self.plan.code,
            "name": self.plan.name,
            "description": self.plan.description,
            "price_month": self.plan.price_month_rub,
            "price_year": self.plan.price_year_rub,
            "sale_start": self.plan.sale_start,
            "sale_end": self.plan.sale_end,
        }
        changes: dict[str, Any] = {}
        for key, value in body.items():
            old = current[key]
            if key in ("sale_start", "sale_end"):
                new = data.get(key)
                # the form has minute precision: an untouched field keeps the stored instant
                if (old is None and new is None) or (
                    old is not None and new is not None and abs((old - new).total_seconds()) < 60
                ):
                    continue
            elif value == old:
                continue
            changes[key] = value
        return changes


class FilterForm(forms.Form):
    """Shared by the lists: GET parameters, never required, bad values become form errors."""

    def cleaned(self) -> dict[str, Any]:
        return self.cleaned_data if self.is_valid() else {}


def _optional_rub(value: str) -> int | None:
    if not value:
        return None
    try:
        return parse_rub(value)
    except DomainError as exc:
        raise forms.ValidationError(str(exc)) from exc


class SubscriptionFilter(FilterForm):
    q = forms.CharField(required=False, label="User id, e-mail or subscription id")
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.order_by("name"), required=False, empty_label="any plan"
    )
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any status"),
            ("awaiting_payment", "awaiting payment"),
            ("active", "active"),
            ("ended", "ended"),
        ],
    )
    auto_renew = forms.ChoiceField(
        required=False, choices=[("", "auto-renew: any"), ("yes", "on"), ("no", "off")]
    )
    period_end_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    period_end_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_q(self) -> str:
        return self.cleaned_data["q"].strip()


class MoneyFilter(FilterForm):
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any status"),
            ("pending", "pending"),
            ("succeeded", "succeeded"),
            ("canceled", "canceled"),
        ],
    )
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    amount_min = forms.CharField(required=False, max_length=32, label="Min RUB")
    amount_max = forms.CharField(required=False, max_length=32, label="Max RUB")
    provider_id = forms.CharField(required=False, max_length=100, label="Provider id")
    q = forms.CharField(required=False, max_length=100, label="User/subscription id or e-mail")

    def clean_amount_min(self) -> int | None:
        return _optional_rub(self.cleaned_data["amount_min"].strip())

    def clean_amount_max(self) -> int | None:
        return _optional_rub(self.cleaned_data["amount_max"].strip())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "The maximum is below the minimum.")
        return data


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


__all__ = ["MoneyFilter", "PlanForm", "SubscriptionFilter", "as_uuid"]
