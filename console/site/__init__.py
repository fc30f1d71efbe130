"""A site: ``flare-console site SITE_KIT_DIR``.

Owns the site process: its mutually authenticated connection to the server (opened by
the site, served by the site: the server sends it commands), registration, reconnection
with back-off, and each deployed job's client app in a child process in
``SITE_KIT_DIR/<job_id>/``. Must not touch the server's store or the admin side.
"""
