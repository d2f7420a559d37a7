"""Passcodes stored hashed: scrypt (the standard library's) with a random salt, written as
one self-describing string, and checked in constant time. The teacher's passcode never
sits in the workshop file in clear: `optatlas workshop hash` prints what to put there."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# scrypt's cost: 2**14 rounds, block size 8, no parallelism: about 50 ms a check, 16 MiB.
N, R, P = 2**14, 8, 1
SALT_BYTES = 16


def hash_passcode(passcode: str) -> str:
    """The stored form of `passcode`: scrypt$N$r$p$salt$hash, hex-encoded."""
    if not passcode:
        raise ValueError("a passcode cannot be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(passcode.encode(), salt=salt, n=N, r=R, p=P)
    return f"{SCHEME}${N}${R}${P}${salt.hex()}${digest.hex()}"


def is_passcode_hash(stored: str) -> bool:
    """Whether `stored` has the form hash_passcode writes."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        int(parts[1]), int(parts[2]), int(parts[3])
        bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return False
    return True


def check_passcode(passcode: str, stored: str) -> bool:
    """Whether `passcode` is the one `stored` was made from."""
    if not is_passcode_hash(stored) or not passcode:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(passcode.encode(), salt=bytes.fromhex(salt), n=int(n),
                               r=int(r), p=int(p))
    return hmac.compare_digest(candidate, bytes.fromhex(digest))
