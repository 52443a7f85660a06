"""Redis Streams between the services: names and the shape of what travels on them."""

from __future__ import annotations

# Billing → Subscriptions: a payment reached a final state.
PAYMENT_RESULTS = "kinobill:billing:payment-results"
# Subscriptions → Billing: charge a saved method for a renewal attempt.
CHARGE_COMMANDS = "kinobill:billing:charge-commands"
# Subscriptions → anyone (Auth's cache): a user's subscriptions changed.
SUBSCRIPTION_CHANGES = "kinobill:subscriptions:changes"
# Billing → Subscriptions: a refund reached a final state.
REFUND_RESULTS = "kinobill:billing:refund-results"

DEAD_LETTER_SUFFIX = ":dead"
STREAMS = (PAYMENT_RESULTS, CHARGE_COMMANDS, SUBSCRIPTION_CHANGES, REFUND_RESULTS)
