"""Resumable uploads (the tus protocol) at /library/uploads/."""
