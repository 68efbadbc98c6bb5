"""Who may do what: login with argon2 hashes, a signed session cookie, CSRF on every write, failed
logins rate-limited and logged (never the password), roles per route.

Loopback without users: this PC's user is trusted as an engineer (no login), as for the Prometheus
endpoint; a CSRF token is still required on writes, since any web page open in the same browser could
post to 127.0.0.1. With users, every page but the login asks for a session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from edge.config import ConsoleSection

log = logging.getLogger(__name__)

Role = Literal["viewer", "engineer"]
COOKIE = "mp_session"
CSRF_HEADER = "x-csrf-token"
FAILURES_ALLOWED = 5  # wrong passwords from one address within FAILURE_WINDOW_S ...
FAILURE_WINDOW_S = 300.0
LOCKOUT_S = 60.0  # ... then every attempt from it is refused for this long
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password")  # unknown users cost the same time as known ones


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Session:
    user: str | None
    role: Role | None
    csrf: str


class LoginLimiter:
    """Failed logins per client address: FAILURES_ALLOWED in FAILURE_WINDOW_S, then LOCKOUT_S."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._locked_until_s: dict[str, float] = {}

    def locked(self, client: str, now_s: float) -> bool:
        return self._locked_until_s.get(client, 0.0) > now_s

    def fail(self, client: str, now_s: float) -> int:
        recent = self._failures.setdefault(client, deque())
        recent.append(now_s)
        while recent and recent[0] < now_s - FAILURE_WINDOW_S:
            recent.popleft()
        if len(recent) >= FAILURES_ALLOWED:
            self._locked_until_s[client] = now_s + LOCKOUT_S
            recent.clear()
        return len(recent) or FAILURES_ALLOWED

    def succeed(self, client: str) -> None:
        self._failures.pop(client, None)


class Auth:
    def __init__(self, settings: ConsoleSection, secret: bytes) -> None:
        self.settings = settings
        self._signer = URLSafeTimedSerializer(secret, salt="moldpilot-console-session")
        self.limiter = LoginLimiter()

    @property
    def open_local(self) -> bool:
        """No users: the console is on loopback (config refuses anything else) and needs no login."""
        return not self.settings.users

    def session_of(self, request: Request) -> tuple[Session, bool]:
        """The request's session and whether it is new (its cookie must be set on the response)."""
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data: dict[str, Any] = self._signer.loads(raw, max_age=self.settings.session_max_age_s)
                return self._checked(Session(data.get("u"), data.get("r"), str(data["c"]))), False
            except (BadSignature, KeyError, TypeError):
                pass
        return self._checked(Session(None, None, secrets.token_urlsafe(24))), True

    def _checked(self, session: Session) -> Session:
        if self.open_local:
            return Session("local", "engineer", session.csrf)
        user = self.settings.users.get(session.user or "")
        if user is None or user.role != session.role:  # removed or re-roled since the login
            return Session(None, None, session.csrf)
        return session

    def cookie(self, session: Session) -> str:
        return self._signer.dumps({"u": session.user, "r": session.role, "c": session.csrf})

    def login(self, user: str, password: str, client: str) -> Session | Literal["locked", "wrong"]:
        now_s = time.monotonic()
        if self.limiter.locked(client, now_s):
            log.warning("console login for user %r from %s refused: too many failed logins", user, client)
            return "locked"
        entry = self.settings.users.get(user)
        try:
            ok = _HASHER.verify(entry.password_hash if entry else _DUMMY_HASH, password) and entry is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or entry is None:
            count = self.limiter.fail(client, now_s)
            log.warning("console login failed for user %r from %s (%d of %d)", user, client, count,
                        FAILURES_ALLOWED)
            return "wrong"
        self.limiter.succeed(client)
        log.info("console login: user %r (%s) from %s", user, entry.role, client)
        return Session(user, entry.role, secrets.token_urlsafe(24))  # a new token at each login


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")


def may(session: Session, needed: Role) -> bool:
    """viewer < engineer."""
    order = {"viewer": 1, "engineer": 2}
    return session.role is not None and order[session.role] >= order[needed]
