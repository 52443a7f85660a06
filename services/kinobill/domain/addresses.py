"""What counts as an e-mail address we can send to (a rule checked at the edge and by the sender)."""

from __future__ import annotations

# A return URL YooKassa sends the buyer back to: http(s), no spaces or control characters (a NUL cannot
# even be stored in Postgres). Checked before the subscription row exists.
RETURN_URL_PATTERN = r"^https?://[^\x00-\x20\x7f]+$"
MAX_ADDRESS = 254  # RFC 5321's limit on a forward path


def email_address_problem(address: object) -> str | None:
    """Why `address` is not one e-mail address a server could take (None when it is): one address,
    no control characters or spaces, a local part and a domain, at most 254 characters."""
    if not isinstance(address, str) or not address:
        return "the e-mail address is empty"
    if len(address) > MAX_ADDRESS:
        return f"the e-mail address is longer than {MAX_ADDRESS} characters"
    if any(ord(c) < 33 or ord(c) == 127 for c in address):
        return "the e-mail address contains spaces or control characters"
    if any(c in address for c in ',;<>()[]\\"'):
        return "the e-mail address must be one plain address"
    local, at, domain = address.rpartition("@")
    if not at or not local or "@" in local:
        return "the e-mail address needs exactly one @ with a name before it"
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        return "the e-mail address needs a domain such as example.com"
    return None
