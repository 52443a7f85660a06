"""Kinobill admin: a Django console over the `subscriptions` and `billing` schemas.

Reads go through unmanaged models mapped to the tables Alembic owns; every write goes through the
services' internal APIs so their rules, idempotency and cache invalidation apply. Django's own tables
(auth, sessions, the audit log) live in the `admin` schema, the only one Django migrates.
"""
