"""Password hashes for the studio's users file: scrypt (``hashlib.scrypt``, no dependency).

A hash is one word that carries what checking it needs::

    scrypt$16384$8$1$SALT$HASH        (SALT and HASH in URL-safe base64, unpadded)

scrypt is slow and memory-hungry on purpose (about 16 MiB and tens of milliseconds with these
costs), so a stolen users file is slow to guess from. Checking one is blocking work: the
sign-in page runs it in a thread (``users.py``), never on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["PasswordHash", "hash_password", "parse_hash", "verify_password"]

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
# The largest costs a users file may ask for: above them one check could take seconds and
# gigabytes, a way to stop the engine by editing one line.
MAX_N, MAX_R, MAX_P = 2**17, 16, 4
MAXMEM = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def __str__(self) -> str:
        return f"{SCHEME}${self.n}${self.r}${self.p}${_b64(self.salt)}${_b64(self.key)}"


def _derive(password: str, n: int, r: int, p: int, salt: bytes, length: int) -> bytes:
    data = password.encode("utf-8", "surrogateescape")
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=length)


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A new hash of ``password`` (a fresh random salt each time)."""
    salt = secrets.token_bytes(SALT_BYTES)
    return str(PasswordHash(n, r, p, salt, _derive(password, n, r, p, salt, KEY_BYTES)))


def parse_hash(text: str) -> PasswordHash:
    """The hash a users file holds; ``ValueError`` saying what is wrong (never quoting it)."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("the hash is not scrypt$N$R$P$SALT$HASH (make it with engine studio-user)")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("the hash's numbers or base64 parts are damaged") from None
    if not (2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        raise ValueError(
            f"the hash's costs are out of range (N a power of 2 up to {MAX_N}, "
            f"R up to {MAX_R}, P up to {MAX_P})"
        )
    if len(salt) < 8 or len(key) < 16:
        raise ValueError("the hash's salt or key is too short")
    return PasswordHash(n, r, p, salt, key)


def verify_password(password: str, stored: PasswordHash) -> bool:
    """``password`` is the one ``stored`` was made from; compared in constant time."""
    given = _derive(password, stored.n, stored.r, stored.p, stored.salt, len(stored.key))
    return hmac.compare_digest(given, stored.key)
