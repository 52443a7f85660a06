"""What a bad request looks like: a 400 page saying what was wrong (the admin's own BadRequest messages
only; Django's SuspiciousOperation details stay in the log)."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponseBadRequest
from django.template import loader
from django.utils.translation import gettext as _


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBadRequest:
    if isinstance(exception, BadRequest) and exception.args:
        message = str(exception.args[0])
    else:
        message = _("The request could not be understood.")
    html = loader.render_to_string("400.html", {"message": message, "back": request.path}, request=None)
    return HttpResponseBadRequest(html)
