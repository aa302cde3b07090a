"""The studio's users file (``ENGINE_STUDIO_USERS``) and ``engine studio-user``, which writes it.

One user a line, ``NAME:ROLE:HASH``; ROLE is ``viewer`` (reads flows and calls) or ``editor``
(also changes flows); HASH is a scrypt hash (``passwords.py``) that ``engine studio-user``
makes, so nobody writes one by hand. ``#`` starts a comment; blank lines are skipped::

    # who may open the studio
    maria:editor:scrypt$16384$8$1$…$…
    desk:viewer:scrypt$16384$8$1$…$…

The engine reads it at start (a mistake stops it, naming the file and line, never quoting a
hash) and again whenever it changes: a user taken out, or given another role or password,
is signed out at their next request. If a changed file has a mistake, nobody signs in from
it until it is fixed (the mistake is logged).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .auth import Role, User
from .passwords import N, P, PasswordHash, R, hash_password, parse_hash, verify_password
from .writing import write_atomically

__all__ = ["Account", "Users", "UsersFileError", "add_arguments", "read_users", "run"]

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_PASSWORD = 1024
MIN_PASSWORD = 8
# Password checks at once (each is ~16 MiB and tens of ms of CPU) and how many may wait.
CHECK_SLOTS = 2
MAX_WAITING = 32


class UsersFileError(ValueError):
    """A users file that cannot be read or has a mistake: ``FILE:LINE: what is wrong``."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"ENGINE_STUDIO_USERS: {where}: {message}")


class CheckBusy(Exception):
    """Too many password checks are waiting: the sign-in is refused, not queued."""


@dataclass(frozen=True, slots=True)
class Account:
    user: User
    hash: PasswordHash
    stored: str  # the hash as the file has it: what a session's proof is made from


def _parse_line(line: str) -> tuple[str, Role, PasswordHash, str]:
    parts = line.split(":")
    if len(parts) != 3:
        raise ValueError("expected NAME:ROLE:HASH (make the line with engine studio-user)")
    name, role, stored = (part.strip() for part in parts)
    if not NAME.fullmatch(name):
        raise ValueError(
            "the name must be 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    try:
        kind = Role(role)
    except ValueError:
        # Quoted only when it looks like a word: in a line written out of order it could be
        # the hash.
        shown = f"role {role!r}" if re.fullmatch(r"[A-Za-z]{1,16}", role) else "the role"
        raise ValueError(f"{shown}: expected viewer or editor") from None
    return name, kind, parse_hash(stored), stored


def parse_users(text: str, path: Path) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()  # a hash never holds '#'
        if not line:
            continue
        try:
            name, role, hashed, stored = _parse_line(line)
        except ValueError as exc:
            raise UsersFileError(path, number, str(exc)) from None
        if name in accounts:
            raise UsersFileError(path, number, f"{name!r} is already on an earlier line")
        accounts[name] = Account(User(name, role), hashed, stored)
    return accounts


def read_users(path: Path) -> dict[str, Account]:
    """The accounts of a users file; ``UsersFileError`` if it cannot be read or is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsersFileError(path, None, f"cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsersFileError(path, None, "it is not UTF-8 text") from None
    return parse_users(text, path)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Users:
    """The users file, read again when it changes (its time, size or inode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = _stamp(path)
        self._accounts = read_users(path)
        # Checked when the name is unknown, so that an unknown name and a wrong password
        # take about as long (the decoy matches no password).
        self._decoy = PasswordHash(N, R, P, secrets.token_bytes(16), secrets.token_bytes(32))
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    def accounts(self) -> Mapping[str, Account]:
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._accounts = read_users(self.path)
            except UsersFileError as exc:
                log.error("%s; nobody signs in from it until it is fixed", exc)
                self._accounts = {}
        return self._accounts

    def get(self, name: str) -> Account | None:
        return self.accounts().get(name)

    async def check(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is theirs. The check runs in a thread, at most
        ``CHECK_SLOTS`` at once; ``CheckBusy`` when ``MAX_WAITING`` already wait."""
        account = self.get(name)
        stored = account.hash if account is not None else self._decoy
        if len(password) > MAX_PASSWORD:
            password = ""
        if self._waiting >= MAX_WAITING:
            raise CheckBusy
        if self._slots is None:
            self._slots = asyncio.Semaphore(CHECK_SLOTS)
        self._waiting += 1
        try:
            async with self._slots:
                ok = await asyncio.to_thread(verify_password, password, stored)
        finally:
            self._waiting -= 1
        return account.user if ok and account is not None else None


# -- engine studio-user ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Add a user to a studio users file (ENGINE_STUDIO_USERS), or change their password "
        "or role. The password is asked for (or read from the first line of stdin when it "
        "is not a terminal); only its scrypt hash is written."
    )
    parser.add_argument("file", metavar="FILE", type=Path)
    parser.add_argument("name", metavar="NAME")
    parser.add_argument(
        "--role",
        choices=[str(role) for role in Role],
        help="viewer: reads flows and calls; editor: also changes flows "
        "(default: viewer for a new user, unchanged for one already there)",
    )
    parser.add_argument("--remove", action="store_true", help="take the user out of the file")


def _read_password() -> str | None:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("engine studio-user: the two passwords differ; nothing written", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (a new users file readable by its owner only)."""
    write_atomically(path, text, new_mode=0o600)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    name: str = args.name
    if not NAME.fullmatch(name):
        print(
            f"engine studio-user: {name!r}: a name is 1 to 64 letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit",
            file=sys.stderr,
        )
        return 2
    lines: list[str] = []
    role: str | None = args.role
    if path.exists():
        try:
            accounts = read_users(path)
        except UsersFileError as exc:
            print(f"engine studio-user: {exc}; nothing written", file=sys.stderr)
            return 2
        lines = path.read_text(encoding="utf-8").splitlines()
        if role is None and name in accounts:
            role = str(accounts[name].user.role)
    elif args.remove:
        print(f"engine studio-user: {path}: no such file", file=sys.stderr)
        return 2

    def names(line: str) -> bool:
        return line.split("#", 1)[0].split(":", 1)[0].strip() == name

    kept = [line for line in lines if not names(line)]
    if args.remove:
        if len(kept) == len(lines):
            print(f"engine studio-user: {name} is not in {path}", file=sys.stderr)
            return 1
        _write(path, "".join(line + "\n" for line in kept))
        print(f"engine studio-user: {name} taken out of {path}")
        return 0
    password = _read_password()
    if password is None:
        return 1
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        print(
            f"engine studio-user: a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters; "
            "nothing written",
            file=sys.stderr,
        )
        return 2
    role = role or str(Role.VIEWER)
    entry = f"{name}:{role}:{hash_password(password)}"
    replaced = [entry if names(line) else line for line in lines]
    if replaced == lines:
        replaced.append(entry)
    _write(path, "".join(line + "\n" for line in replaced))
    verb = "changed in" if len(kept) != len(lines) else "added to"
    print(f"engine studio-user: {name} ({role}) {verb} {path}")
    return 0
