"""Provisioning: a project file becomes startup kits.

Owns project files (``project``), the project's root CA and the participants' certificates
and keys (``certs``), the default authorization policy (``policy``) and the kits written on
disk (``kits``: ``WORKSPACE/<project>/prod_NN/<participant>/startup/``, with the root CA kept
in ``WORKSPACE/<project>/state/`` so re-provisioning keeps earlier kits valid).

Must not touch networking or server logic: nothing here opens a socket, reads a kit back
for a connection or enforces the policy; other sub-packages do that with what is written here.
"""
