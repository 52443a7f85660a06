"""The module ``kopf run -m kinobill_operator.main`` loads: the handlers on kopf's default registry."""

from __future__ import annotations

import os

import kopf

from kinobill_operator.handlers import register

register(kopf.get_default_registry(), tick=float(os.environ.get("KINOBILL_OPERATOR_TICK_SECONDS", "10")))
