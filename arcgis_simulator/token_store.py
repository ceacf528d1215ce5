"""Users and ArcGIS tokens: issue, bind to a client, expire, check."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from .clock import Clock, epoch_ms

INVALID_TOKEN = "Invalid token."
CLIENT_MISMATCH = "Invalid token, ClientID does not match."


@dataclass(frozen=True)
class User:
    name: str
    password: str
    admin: bool = False

    @classmethod
    def parse(cls, spec: str) -> User:
        """A user from the command line form NAME:PASSWORD or NAME:PASSWORD:admin."""
        parts = spec.split(":")
        if len(parts) == 2 and all(parts):
            return cls(parts[0], parts[1])
        if len(parts) == 3 and parts[0] and parts[1] and parts[2] == "admin":
            return cls(parts[0], parts[1], admin=True)
        raise ValueError(f"expected NAME:PASSWORD or NAME:PASSWORD:admin, got {spec!r}")


DEFAULT_USERS = (User("siteadmin", "siteadmin", admin=True), User("publisher", "publisher"))


@dataclass(frozen=True)
class Token:
    value: str
    user: User
    expires: int  # epoch ms
    referer: str | None = None  # bound to this Referer header
    ip: str | None = None  # bound to this client address


class TokenRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenStore:
    """The tokens a site has issued; forgotten on restart, as a real server may."""

    def __init__(self, users: tuple[User, ...], clock: Clock, max_expiration_minutes: int = 1440) -> None:
        self.users = {user.name: user for user in users}
        self.clock = clock
        self.max_expiration_minutes = max_expiration_minutes
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.users.get(username)
        if user is None or not secrets.compare_digest(user.password.encode(), password.encode()):
            return None
        return user

    def issue(
        self, user: User, expiration_minutes: int = 60, referer: str | None = None, ip: str | None = None
    ) -> Token:
        minutes = max(1, min(expiration_minutes, self.max_expiration_minutes))
        token = Token(
            value=secrets.token_urlsafe(48),
            user=user,
            expires=epoch_ms(self.clock.now()) + minutes * 60_000,
            referer=referer,
            ip=ip,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def check(self, value: str, referer: str | None, client_ip: str) -> Token:
        """The token, if it may be used by this client now; else TokenRejected (498)."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expires <= epoch_ms(self.clock.now()):
            raise TokenRejected(INVALID_TOKEN)
        if (token.referer is not None and token.referer != referer) or (token.ip is not None and token.ip != client_ip):
            raise TokenRejected(CLIENT_MISMATCH)
        return token

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()
