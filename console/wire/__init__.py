"""The wire: how peers talk, and nothing about what they say.

Owns the frame format (length-prefixed JSON header plus optional binary body), the
message kinds that ride on frames, the error types that cross the wire and the FLARE API
exceptions they become (``exceptions``), both ends of a connection: the serving end
(``serving``: the server for admins, a site for the server; the events it pushes, ``pushing``;
what it tells an auditing host, ``request_audit``; the checks before a handler runs,
``request_dispatch``; which frame has a body, ``body_rule``) and the requesting end
(``requesting``: an admin's session, the server's link to a site), TLS contexts, and
reading the connection settings of a startup kit. Must not touch job logic, storage, the
admin client (``api``) or the server; it reads the command catalogue's argument specs only. ``docs/protocol.md`` describes the same thing in prose.
"""
