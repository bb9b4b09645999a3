"""Logging filters (settings.LOGGING).

A refused request (PermissionDenied → 403, a bad request → 400) is the system working as meant, not a fault:
django.request logs it with the exception's traceback, which fills the log with stack traces nobody needs
to read. RefusalWithoutTraceback keeps the one warning line and adds the reason the code gave instead.
"""

import logging


class RefusalWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        status = getattr(record, "status_code", None)
        if exc is not None and status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
            reason = " ".join(str(exc).split())
            if reason and isinstance(record.args, tuple):
                record.msg = f"{record.msg} — %s"
                record.args = (*record.args, reason)
        return True
