"""flare-console: the admin side of a secure federated-learning system.

Sub-packages, one per part (each says what it owns in its own docstring):
``provision`` (project file -> startup kits), ``wire`` (frames, TLS, kit reading),
``commands`` (the one command registry), ``jobdef`` (job folders and archives),
``server`` (admin endpoint, job store, scheduler, runner), ``runtime`` (the job
processes), ``api`` (the client core and the FLARE-compatible session).
``console.flare_api`` is the public FLARE API entry module.
"""

__version__ = "0.1.0"
