"""Job folders: FLARE's job definition rules, safe zip archives, and job signatures.

Owns what a job folder must contain (``meta.json``, app folders with their configs), how
folders become archives and archives become folders without escaping their target, and
how a job archive is signed and verified, and the limits a participant sets on a job (its
disk, ``archive.JobLimits``; its processes, ``process_limits``). Must not touch networking,
the store or any running job; validation is read-only.
"""
