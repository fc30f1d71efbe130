"""The client side: one authenticated, multiplexed connection and the FLARE API on top.

Owns the asyncio client core (``client.AsyncClient``: connect, login, concurrent
requests, streamed uploads and downloads, pushed events, reconnection; what it checks of
its own certificate and of the server's answers in ``login`` and ``json_answer``), the FLARE
API objects and exceptions, its argument checks (``arguments``), the operations as coroutines
(``async_session``) and the thread-safe synchronous ``Session``. Must not import
the server; it knows the server only through the wire and the command registry.
"""
