"""The portal's secrets at rest: MultiFernet under TOKEN_ENCRYPTION_KEYS (the first key encrypts, every key
decrypts). Here, at the bottom of the portal, so that accounts (single sign-on's refresh tokens) encrypts too;
jobs.crypto builds the tokens' helpers and key rotation on it."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class TokenDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt_text(text: str) -> bytes:
    return fernet().encrypt(text.encode())


def decrypt_text(ciphertext: bytes, what: str) -> str:
    try:
        return fernet().decrypt(ciphertext).decode()
    except InvalidToken:
        raise TokenDecryptionError(
            f"A stored {what} cannot be decrypted with TOKEN_ENCRYPTION_KEYS (was a key removed or changed?)."
        ) from None
