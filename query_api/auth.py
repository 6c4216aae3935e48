"""API keys and roles: keys are stored as SHA-256 hashes and compared in constant time.

Roles are ordered reader < analyst < admin; a role may do everything a lower one may.
A key is taken from the `X-API-Key` header or, for stock schema-registry clients
(`basic.auth.user.info`), as the password of HTTP Basic authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["reader", "analyst", "admin"]
ROLE_RANK: dict[str, int] = {"reader": 1, "analyst": 2, "admin": 3}


class KeySpec(Protocol):
    """What a configured key carries (config.ApiKey fits)."""

    @property
    def role(self) -> str: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the key's configured name and role."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this principal's role includes `role`."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_key(key: str) -> str:
    """The SHA-256 of a key, lowercase hex, as configured in `[api.keys]`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyRing:
    """The configured keys; identifies a presented key without revealing timing."""

    def __init__(self, keys: Mapping[str, KeySpec]) -> None:
        self._keys = [
            (name, spec.role, bytes.fromhex(spec.sha256)) for name, spec in sorted(keys.items())
        ]

    def identify(self, presented: str | None) -> Principal | None:
        """The principal of a presented key, or None; every configured hash is compared."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Principal | None = None
        for name, role, expected in self._keys:
            if hmac.compare_digest(digest, expected):
                found = Principal(name, role)
        return found


def basic_password(authorization: str | None) -> str | None:
    """The password of an `Authorization: Basic ...` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep else None
