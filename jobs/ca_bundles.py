"""A site's CA bundle is PEM text kept with the site, so every portal host has it; requests wants a file.

Each process writes the bundles it uses, once per content, to a private directory of its own (0700, files
0600), made at first use and removed when the process exits. Nothing here imports Django.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading

from cryptography import x509

_lock = threading.Lock()
_directory: tuple[int, str] | None = None  # (pid, path): a forked worker makes its own


def certificates(pem: str) -> list[x509.Certificate]:
    """The X.509 certificates in PEM text; ValueError (fit to show) when it holds none, or anything else."""
    if "PRIVATE KEY" in pem:
        raise ValueError("This holds a private key: paste only certificates, never a key.")
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(
            "Paste one or more PEM certificates (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)."
        ) from None
    return found


def describe(pem: str) -> str:
    """A short, public description of a bundle for the audit trail: how many certificates, which content."""
    if not pem:
        return "none"
    try:
        count = len(certificates(pem))
    except ValueError:
        count = 0
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    return f"{count} certificate{'s' if count != 1 else ''} (SHA-256 {digest}…)"


def path_for(pem: str) -> str:
    """The path of a private file holding this PEM text, written on first use (and again if removed)."""
    digest = hashlib.sha256(pem.encode()).hexdigest()
    with _lock:
        directory = _private_directory()
        path = os.path.join(directory, f"{digest}.pem")
        if not os.path.exists(path):
            descriptor, partial = tempfile.mkstemp(dir=directory, suffix=".partial")  # created 0600
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(pem)
            os.replace(partial, path)  # complete or absent: a concurrent reader never sees half a bundle
        return path


def _private_directory() -> str:
    global _directory
    pid = os.getpid()
    if _directory is None or _directory[0] != pid or not os.path.isdir(_directory[1]):
        path = tempfile.mkdtemp(prefix="gp-jobs-ca-")  # created 0700
        _directory = (pid, path)
        atexit.register(_remove, pid, path)
    return _directory[1]


def _remove(pid: int, path: str) -> None:
    if os.getpid() == pid:  # a forked child inherits this hook but not the directory
        shutil.rmtree(path, ignore_errors=True)
