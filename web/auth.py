"""Accounts of the web UI: password hashing (scrypt), users, sign-in throttling, sessions.

Passwords: ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, 16-byte random salt, N=2**17,
r=8, p=1: 128 MB and ~0.4 s per check on a 2-core x86 box).  One hash runs at a time,
so sign-ins never need more than that on a box with a few hundred MB.  A hash made with
other parameters (N=2**14 before 2026) is made again, with the same salt, at the next
sign-in.  Users live in the store's
``billing_user`` table: role ``admin`` (the PBX administrator, set at install time by
``billing-addon admin set-password``) or one of the billing roles of the ``bill-xxx``
accounts made in the Billing Manager: ``billing``, ``auditor`` (read-only) and ``manager``
(a department manager); what each may do is ``roles.py``.

Sessions are kept server-side in memory (a random 256-bit id in an HttpOnly, SameSite
cookie): a restart signs everybody out, nothing secret is stored in the cookie or on
disk, and a password change or a disabled account ends that user's sessions at once.
A signed-in session that ends leaves its CSRF token behind for a while (``ended_owner``):
a form posted from one of its pages afterwards is kept, for that user only, until they
sign in again (``SavedForm``, see ``kept_form``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from billing_addon import i18n
from billing_addon.errors import Refusal
from billing_addon.i18n import _
from billing_addon.store import BillingUser, db, now_utc

ADMIN, BILLING = "admin", "billing"
AUDITOR, MANAGER = "auditor", "manager"
BILLING_ROLES = (BILLING, AUDITOR, MANAGER)  # the users of the billing area
MIN_PASSWORD = 8
MAX_PASSWORD = 128
USERNAME_PREFIX = "bill-"
_ALPHABET = string.ascii_lowercase + string.digits


class AuthError(Refusal):
    """A refused account operation; the message says why."""


# --- passwords -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int

    @property
    def memory(self) -> int:
        """Bytes scrypt needs (OpenSSL's own bound)."""
        return 128 * self.r * (self.n + self.p + 2)


SHIPPED_COST = ScryptCost(n=2**17, r=8, p=1)  # the current recommendation for scrypt
# The cost new hashes are made with.  Only the tests lower it (tests/conftest.py), to stay
# fast; a hash made with another cost is made again at the next sign-in.
hash_cost = SHIPPED_COST
_MAX_MEMORY = 256 * 1024 * 1024  # a stored hash asking for more is refused, not computed
_hashing = threading.BoundedSemaphore(1)  # one 128 MB hash at a time


def _scrypt(password: str, salt: bytes, cost: ScryptCost, size: int = 32) -> bytes:
    if cost.memory > _MAX_MEMORY:
        raise ValueError("scrypt parameters beyond the box's memory")
    with _hashing:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost.n, r=cost.r,
                              p=cost.p, maxmem=cost.memory + 65536, dklen=size)


def _format(cost: ScryptCost, salt: bytes, digest: bytes) -> str:
    b64 = base64.b64encode
    return f"scrypt${cost.n}${cost.r}${cost.p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse(stored: str) -> Tuple[ScryptCost, bytes, bytes]:
    """(cost, salt, digest) of a stored hash; ValueError when it is not one of ours."""
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError("not an scrypt hash")
    return ScryptCost(int(n), int(r), int(p)), base64.b64decode(salt), base64.b64decode(digest)


def hash_password(password: str, salt: Optional[bytes] = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    return _format(hash_cost, salt, _scrypt(password, salt, hash_cost))


def check_password(password: str, stored: str) -> bool:
    try:
        cost, salt, expected = _parse(stored)
        got = _scrypt(password, salt, cost, len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def rehashed(password: str, stored: str) -> Optional[str]:
    """The hash of the (checked) password with today's cost, or None when ``stored``
    already has it.  The salt is kept: the session tag (``password_tag``) stays, so the
    user's other sessions go on."""
    try:
        cost, salt, _ = _parse(stored)
    except (ValueError, TypeError):
        return None
    return None if cost == hash_cost else hash_password(password, salt)


_DUMMY_HASH: Optional[str] = None


def _dummy_check(password: str) -> None:
    """Spend the same time on an unknown user as on a known one."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    check_password(password, _DUMMY_HASH)


def check_new_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AuthError(_("the password needs at least {count} characters").format(count=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise AuthError(_("the password is at most {count} characters").format(count=MAX_PASSWORD))
    if password.strip() != password:
        raise AuthError(_("the password must not start or end with a space"))
    return password


def random_password() -> str:
    """12 characters of letters and digits (about 71 bits)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


# --- users ---------------------------------------------------------------------------


def get_user(username: str) -> Optional[BillingUser]:
    return BillingUser.get_or_none(BillingUser.username == (username or "").strip()[:64])


def list_users(roles: Tuple[str, ...] = BILLING_ROLES) -> List[BillingUser]:
    return list(BillingUser.select().where(BillingUser.role.in_(roles)).order_by(BillingUser.username))


def admin_exists() -> bool:
    return BillingUser.select().where((BillingUser.role == ADMIN) & (BillingUser.enabled == 1)).exists()


def set_admin_password(password: str, username: str = "admin") -> BillingUser:
    """Create the administrator or change its password."""
    check_new_password(password)
    username = (username or "").strip()
    if not username or len(username) > 32 or not all(c.isalnum() or c in "-_." for c in username):
        raise AuthError("the admin user name uses letters, digits, - _ . (at most 32)")
    now = now_utc()
    with db.atomic():
        user = get_user(username)
        if user is not None and user.role != ADMIN:
            raise AuthError(f"{username} is a billing user, not an administrator")
        if user is None:
            return BillingUser.create(username=username, password_hash=hash_password(password),
                                      role=ADMIN, enabled=True, created_utc=now, updated_utc=now)
        BillingUser.update(password_hash=hash_password(password), enabled=True,
                           updated_utc=now).where(BillingUser.id == user.id).execute()
    return BillingUser.get_by_id(user.id)


def check_role(role: str) -> str:
    if role not in BILLING_ROLES:
        raise AuthError(_("unknown role {name}").format(name=repr((role or "")[:20])))
    return role


def create_billing_user(password: Optional[str] = None, role: str = BILLING) -> Tuple[BillingUser, str]:
    """A new ``bill-xxx`` user of ``role`` with a random (or the given) password; returns
    the user and the password, which is shown once and not kept."""
    check_role(role)
    password = check_new_password(password) if password else random_password()
    now = now_utc()
    for size in (3, 3, 3, 4, 4, 6):
        name = USERNAME_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(size))
        with db.atomic():
            if get_user(name) is None:
                user = BillingUser.create(username=name, password_hash=hash_password(password),
                                          role=role, enabled=True, created_utc=now,
                                          updated_utc=now)
                return user, password
    raise AuthError(_("could not find a free user name; try again"))


def _billing_user(username: str) -> BillingUser:
    user = get_user(username)
    if user is None or user.role not in BILLING_ROLES:
        raise AuthError(_("no such billing user"))
    return user


def set_role(username: str, role: str) -> BillingUser:
    """Change a billing user's role (the caller ends their sessions)."""
    user = _billing_user(username)
    check_role(role)
    BillingUser.update(role=role, updated_utc=now_utc()).where(BillingUser.id == user.id).execute()
    return BillingUser.get_by_id(user.id)


def set_password(username: str, password: Optional[str] = None) -> str:
    """Change a billing user's password (random when none given); returns it."""
    user = _billing_user(username)
    password = check_new_password(password) if password else random_password()
    BillingUser.update(password_hash=hash_password(password), updated_utc=now_utc()).where(
        BillingUser.id == user.id).execute()
    return password


def user_locale(username: str) -> Optional[str]:
    """The language ``username`` chose (None: the box's default)."""
    row = BillingUser.select(BillingUser.locale).where(
        BillingUser.username == (username or "").strip()[:64]).first()
    return row.locale if row is not None and row.locale in i18n.LOCALES else None


def set_locale(username: str, locale: Optional[str]) -> None:
    """Set the language of a billing user (None or "": the box's default)."""
    user = _billing_user(username)
    if locale and locale not in i18n.LOCALES:
        raise AuthError(i18n._("unknown language {name}").format(name=repr(locale[:20])))
    BillingUser.update(locale=locale or None, updated_utc=now_utc()).where(
        BillingUser.id == user.id).execute()


def set_enabled(username: str, enabled: bool) -> None:
    user = _billing_user(username)
    BillingUser.update(enabled=bool(enabled), updated_utc=now_utc()).where(
        BillingUser.id == user.id).execute()


def authenticate(username: str, password: str) -> Optional[BillingUser]:
    """The enabled user with this name and password, else None (constant-ish time)."""
    user = get_user(username)
    if user is None or not user.enabled:
        _dummy_check(password or "")
        return None
    if not check_password(password or "", user.password_hash):
        return None
    upgraded = rehashed(password or "", user.password_hash)
    if upgraded is not None:
        BillingUser.update(password_hash=upgraded).where(BillingUser.id == user.id).execute()
        user.password_hash = upgraded
    return user


def password_tag(user: BillingUser) -> str:
    """A short fingerprint of the stored hash's salt: sessions remember it, so a password
    change (always a new salt) ends them, and a re-hash at a new cost does not."""
    try:
        _, salt, _ = _parse(user.password_hash)
    except (ValueError, TypeError):
        salt = user.password_hash.encode()
    return hashlib.sha256(salt).hexdigest()[:16]


# --- throttling ----------------------------------------------------------------------


class Throttle:
    """Sign-in throttling per (user name, client address) and per client address.

    After ``limit`` failures of one user name from one address within ``window`` seconds,
    that user name is refused from that address for ``lockout`` seconds (doubling on each
    further lockout, at most ``max_lockout``); after ``limit * 4`` failures of any user
    names from one address, that address is refused.  Failures from one address never
    lock the user out at another address.  A success clears the (user, address) record."""

    def __init__(self, limit: int = 5, window: int = 900, lockout: int = 60,
                 max_lockout: int = 900, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window = limit, window
        self.lockout, self.max_lockout = lockout, max_lockout
        self.clock = clock
        self._lock = threading.Lock()
        self._fails: Dict[str, List[float]] = {}
        self._until: Dict[str, Tuple[float, int]] = {}  # key -> (blocked until, strikes)

    @staticmethod
    def _keys(username: str, address: str) -> List[str]:
        """[the (user, address) key, the address key]"""
        address = (address or "")[:64]
        return ["u:" + (username or "").strip().lower()[:64] + "@" + address, "a:" + address]

    def blocked_for(self, username: str, address: str) -> int:
        """Seconds the attempt must wait (0 = may try)."""
        now = self.clock()
        with self._lock:
            waits = [until - now for key in self._keys(username, address)
                     for until, _ in [self._until.get(key, (0.0, 0))] if until > now]
        return int(max(waits) + 0.999) if waits else 0

    def failure(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._fails) > 10000:
                self._prune(now)
            for key in self._keys(username, address):
                limit = self.limit if key.startswith("u:") else self.limit * 4
                recent = [t for t in self._fails.get(key, []) if now - t < self.window]
                recent.append(now)
                if len(recent) >= limit:
                    _, strikes = self._until.get(key, (0.0, 0))
                    wait = min(self.lockout * 2 ** strikes, self.max_lockout)
                    self._until[key] = (now + wait, strikes + 1)
                    recent = []
                self._fails[key] = recent

    def success(self, username: str, address: str) -> None:
        with self._lock:
            key = self._keys(username, address)[0]
            self._fails.pop(key, None)
            self._until.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._fails.items() if not v or now - v[-1] >= self.window]:
            self._fails.pop(key, None)
        for key in [k for k, (until, _strikes) in self._until.items() if until <= now]:
            self._until.pop(key, None)


# --- sessions ------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedForm:
    """What a user typed into a form that reached the box after their session ended:
    shown again, to ``owner`` only, on ``page`` (path and query) for the form posting
    to ``action``.  Never sent by itself: the user presses the form's button again."""

    owner: str
    action: str
    page: str
    values: Tuple[Tuple[str, str], ...]


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    username: str = ""
    role: str = ""
    tag: str = ""
    created: float = 0.0
    flashes: List[Tuple[str, str]] = field(default_factory=list)
    shown_once: Optional[Tuple[str, str]] = None  # a new (user name, password), for one page
    saved_form: Optional[SavedForm] = None

    @property
    def signed_in(self) -> bool:
        return bool(self.username)


class SessionStore:
    """In-memory sessions with an idle timeout and an absolute lifetime."""

    MAX_SESSIONS = 5000
    MAX_ENDED = 2000  # tokens of ended sessions remembered (the oldest are forgotten first)

    def __init__(self, idle_seconds: int, max_age: int = 12 * 3600,
                 clock: Callable[[], float] = time.monotonic):
        self.idle = idle_seconds
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: Dict[str, Session] = {}
        self._ended: Dict[str, Tuple[str, float]] = {}  # CSRF token -> (user name, ended at)

    def new(self) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.idle,
                          created=now)
        with self._lock:
            if len(self._sessions) >= self.MAX_SESSIONS:
                self._prune(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: Optional[str]) -> Optional[Session]:
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires <= now or now - session.created > self.max_age:
                self._end(session, now)
                return None
            session.expires = now + self.idle
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._end(session, self.clock())

    def drop_user(self, username: str) -> None:
        now = self.clock()
        with self._lock:
            for session in [s for s in self._sessions.values() if s.username == username]:
                self._end(session, now)

    def ended_owner(self, token: str) -> Optional[str]:
        """The user whose signed-in session, now ended, had this CSRF token (once)."""
        with self._lock:
            username, ended = self._ended.pop(token, ("", 0.0))
        return username if username and self.clock() - ended < self.max_age else None

    def _end(self, session: Session, now: float) -> None:
        self._sessions.pop(session.id, None)
        if session.signed_in:
            self._ended[session.csrf] = (session.username, now)
            while len(self._ended) > self.MAX_ENDED:
                self._ended.pop(next(iter(self._ended)))

    def _prune(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if s.expires <= now]:
            self._end(session, now)
        if len(self._sessions) >= self.MAX_SESSIONS:  # still full: drop the oldest anonymous
            anonymous = sorted((s for s in self._sessions.values() if not s.signed_in),
                               key=lambda s: s.expires)
            for s in anonymous[: len(anonymous) // 2 + 1]:
                self._sessions.pop(s.id, None)
