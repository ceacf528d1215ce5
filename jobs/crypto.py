"""Encryption of stored ArcGIS tokens with MultiFernet under TOKEN_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated: put the new key
first, run `manage.py rotate_token_keys`, then drop the old one.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class TokenDecryptionError(Exception):
    """A stored token cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt_token(token: str) -> bytes:
    return fernet().encrypt(token.encode())


def decrypt_token(ciphertext: bytes) -> str:
    try:
        return fernet().decrypt(ciphertext).decode()
    except InvalidToken:
        raise TokenDecryptionError(
            "A stored ArcGIS token cannot be decrypted with TOKEN_ENCRYPTION_KEYS "
            "(was a key removed or changed?). The operator must reconnect."
        ) from None


def rotate(ciphertext: bytes) -> bytes:
    """Re-encrypt under the first key (raises TokenDecryptionError if no key fits)."""
    try:
        return fernet().rotate(ciphertext)
    except InvalidToken:
        raise TokenDecryptionError("A stored ArcGIS token cannot be decrypted with TOKEN_ENCRYPTION_KEYS.") from None
