"""Provisioning: a project file becomes startup kits.

Owns project files, the project's root CA (kept beside the ``prod_NN`` folders so that
re-provisioning keeps earlier kits valid), certificates and keys, and the kit configs
(``fed_server.json``, ``fed_client.json``, ``fed_admin.json``, the default authorization
policy). Must not touch networking or any running server.
"""
