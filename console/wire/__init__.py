"""The wire: how peers talk, and nothing about what they say.

Owns the frame format (length-prefixed JSON header plus optional binary body), the
message kinds that ride on frames, the error types that cross the wire, TLS contexts,
and reading the connection settings of a startup kit. Must not touch job logic,
storage or the command catalogue. ``docs/protocol.md`` describes the same thing in prose.
"""
