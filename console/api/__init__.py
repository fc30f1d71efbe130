"""The client side: one authenticated, multiplexed connection and the FLARE API on top.

Owns the asyncio client core (``client.AsyncClient``: connect, login and reconnection with
an admin kit, over the wire's requesting end, which carries the concurrent requests, streamed
uploads and downloads and pushed events; what it checks of its own certificate and of the
server's answer to login in ``login``), the FLARE API objects and exceptions (``errors``: the
wire's, under FLARE's module name), its argument checks (``arguments``), the operations as
coroutines (``async_session``), the thread-safe synchronous ``Session`` (its callers' hand-over
to its loop, Ctrl-C included: ``loop_call``) with FLARE's ways of making one (``new_session``)
and the FLARE methods our server has no counterpart for, which say so (``flare_only``). Must
not import the server; it knows the server only through the wire and the command registry.
"""
