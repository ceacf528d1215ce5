"""Encryption of the secrets the portal stores (operators' ArcGIS tokens, webhook URLs) with MultiFernet under
TOKEN_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated: put the new key
first, run `manage.py rotate_token_keys`, then drop the old one. Each app registers the
model fields it keeps encrypted (`register`), so that rotation re-encrypts them all.
"""

from cryptography.fernet import InvalidToken

from accounts.crypto import TokenDecryptionError, decrypt_text, encrypt_text, fernet

__all__ = [
    "ENCRYPTED_FIELDS",
    "TokenDecryptionError",
    "decrypt_text",
    "decrypt_token",
    "encrypt_text",
    "encrypt_token",
    "fernet",
    "register",
    "rotate",
]


# (model, binary field, what it holds) of every value kept encrypted under these keys: what rotate_token_keys
# re-encrypts.
ENCRYPTED_FIELDS: list[tuple[type, str, str]] = []


def register(model: type, field: str, noun: str) -> None:
    """The model keeps this binary field encrypted under TOKEN_ENCRYPTION_KEYS (`noun`: what it holds, for people);
    called from an app's ready()."""
    if (model, field, noun) not in ENCRYPTED_FIELDS:
        ENCRYPTED_FIELDS.append((model, field, noun))


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
