"""Job folders: FLARE's job definition rules and safe zip archives of job folders.

Owns what a job folder must contain (``meta.json``, app folders with their configs) and
how folders become archives and archives become folders without escaping their target.
Must not touch networking, the store or any running job.
"""
