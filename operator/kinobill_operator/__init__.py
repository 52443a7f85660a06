"""The Kinobill operator: a kopf adapter that runs renewal scheduler passes for ``RenewalSchedule`` objects.

The rules live in the core (``kinobill.domain.schedule.RenewalPolicy`` validates the spec,
``kinobill.subscriptions.renewals.RenewalScheduler`` does a pass); this package only translates a custom
resource into those calls and writes what happened back to the object's ``status``.

``python -m kinobill_operator`` starts ``kopf run`` (see ``__main__``); ``handlers.register(registry)``
attaches the handlers to any kopf registry (the default one in production, a private one in tests).
"""

GROUP = "kinobill.io"
VERSION = "v1"
PLURAL = "renewalschedules"
KIND = "RenewalSchedule"

__all__ = ["GROUP", "KIND", "PLURAL", "VERSION"]
