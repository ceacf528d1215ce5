"""Filters for the portal's log. Django logs a refused request (403, 404…) with the exception that refused it, so
an ordinary "you may not" would print a traceback as if something broke: its line stays, its traceback goes."""

from __future__ import annotations

import logging


class RefusalsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
