"""The plan form of the admin: validated here with the domain's rules, then saved by the Subscriptions
service through its internal API. The service's refusal (a taken code, a bad price, ...) is shown on the
form like any validation error, and every attempt is audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kinobill.domain.errors import DomainError
from kinobill.domain.money import format_rub, parse_rub
from kinobill.domain.plans import MIN_PRICE, validate_plan_code
from kinobill_admin import audit, clock, services
from kinobill_admin.models import Plan

PRICE_HELP = gettext_lazy(
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
        raise forms.ValidationError(
            _("%(label)s must be at least %(min)s RUB.") % {"label": label, "min": format_rub(MIN_PRICE)}
        )
    return kopecks


PLAN_FIELDS = ("code", "name", "description", "price_month", "price_year", "sale_start", "sale_end")


def unchanged(new: Any, old: Any) -> bool:
    """The form shows times to the second: an untouched field keeps the stored instant."""
    if isinstance(new, datetime) and isinstance(old, datetime):
        return abs(new - old) < timedelta(seconds=1)
    return bool(new == old)


class PlanAdminForm(forms.ModelForm):
    request: HttpRequest  # set by PlanAdmin.get_form: the audit needs who asked

    code = forms.CharField(
        max_length=32,
        help_text=gettext_lazy(
            "Short slug used in access-token claims: a-z, 0-9 and '-', starting with a letter."
        ),
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    price_month = forms.CharField(
        label=gettext_lazy("Monthly price (RUB)"), max_length=32, help_text=PRICE_HELP
    )
    price_year = forms.CharField(
        label=gettext_lazy("Yearly price (RUB)"), max_length=32, help_text=PRICE_HELP
    )

    class Meta:
        model = Plan
        fields = PLAN_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_result: dict[str, Any] | None = None
        plan = self.instance
        self.creating = plan._state.adding
        if not self.creating:
            self.before = {f: getattr(plan, f) for f in PLAN_FIELDS}
            self.initial["price_month"] = format_rub(plan.price_month)
            self.initial["price_year"] = format_rub(plan.price_year)
        elif "sale_start" in self.fields:
            self.fields["sale_start"].required = False
            self.fields["sale_start"].help_text = _("Empty = now.")
        if "sale_end" in self.fields:  # (a read-only view builds the form without the model's fields)
            self.fields["sale_end"].required = False
            self.fields["sale_end"].help_text = _(
                "Empty = on sale with no end. Ending a sale never touches existing subscriptions."
            )

    def clean_code(self) -> str:
        try:
            return validate_plan_code(self.cleaned_data["code"].strip())
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_price_month(self) -> int:
        return rub_to_kopecks(self.cleaned_data["price_month"], _("Monthly price"))

    def clean_price_year(self) -> int:
        return rub_to_kopecks(self.cleaned_data["price_year"], _("Yearly price"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start: datetime | None = data.get("sale_start")
        end: datetime | None = data.get("sale_end")
        if end is not None and end <= (start or clock.now()):
            self.add_error("sale_end", _("The sale must end after it starts."))
        return data

    def api_body(self) -> dict[str, Any]:
        """POST: every field; PATCH: only what changed, in the service's shapes."""
        data = self.cleaned_data
        body: dict[str, Any] = {}
        for key in PLAN_FIELDS:
            value = data.get(key)
            if not self.creating and unchanged(value, self.before[key]):
                continue
            if key in ("price_month", "price_year"):
                body[key] = format_rub(value)
            elif key in ("sale_start", "sale_end"):
                if value is None and self.creating:
                    continue
                body[key] = value.isoformat() if value else None
            else:
                body[key] = value or ""
        return body

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._errors:
            return
        body = self.api_body()
        action = "plan.create" if self.creating else "plan.update"
        target = None if self.creating else self.instance
        if not body:
            self.api_result = {"id": str(self.instance.pk)}
            return
        try:
            if self.creating:
                result = services.create_plan(body)
            else:
                result = services.update_plan(str(self.instance.pk), body)
        except services.ServiceError as error:
            audit.record(
                self.request,
                action,
                target=target,
                target_type="plan",
                details={"request": body},
                outcome="error",
                message=str(error),
            )
            self._apply_service_error(error)
            return
        self.api_result = result
        audit.record(
            self.request,
            action,
            target=target,
            target_type="plan",
            target_id=str(result.get("id", "")),
            details={"request": body, "result": result},
        )

    def _apply_service_error(self, error: services.ServiceError) -> None:
        placed = False
        for name, problems in error.field_errors.items():
            if name in self.fields:
                for problem in problems:
                    self.add_error(name, problem)
                placed = True
        if error.code == "plan_code_taken":
            self.add_error("code", error.message)
            placed = True
        if not placed:
            self.add_error(
                None,
                _("The Subscriptions service refused: %(message)s (%(code)s)")
                % {"message": error.message, "code": error.code},
            )
