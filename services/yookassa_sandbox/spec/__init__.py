"""The official YooKassa API v3 OpenAPI specification, kept verbatim: the sandbox's contract."""

from pathlib import Path

SPEC_FILE = Path(__file__).with_name("yookassa-openapi.yaml")
