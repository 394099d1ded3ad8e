"""One router per resource under ``/api/v1`` (and the system endpoints at the root)."""
