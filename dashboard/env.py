"""Strict readers for settings taken from the environment.

A malformed value stops start-up with a message naming the variable, rather than
silently falling back to a default. Every reader also accepts ``<NAME>_FILE``: the
path of a file holding the value (Docker/Kubernetes secrets).
"""

import os
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name: str) -> str | None:
    """The variable's value, from ``NAME`` or the file named by ``NAME_FILE``."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value is not None and path:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if path:
        try:
            with open(path, encoding="utf-8") as secret_file:
                return secret_file.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path!r}: {exc.strerror}") from None
    return value


@overload
def string(name: str, default: str) -> str: ...
@overload
def string(name: str, default: None = None) -> str | None: ...
def string(name: str, default: str | None = None) -> str | None:
    value = raw(name)
    return default if value is None or value.strip() == "" else value.strip()


def boolean(name: str, default: bool) -> bool:
    value = raw(name)
    if value is None:
        return default
    normalized = value.strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}.")


def integer(name: str, default: int, *, minimum: int = 0) -> int:
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    return number


def csv(name: str, default: list[str]) -> list[str]:
    value = raw(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name} is a comma-separated list without empty items; got {value!r}.")
    return items
