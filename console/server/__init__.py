"""The FL server: admin endpoint, job store, scheduler and job runner.

Owns the server process (``flare-console server KIT``): the mutually authenticated admin
endpoint, the SQLite job store and the job files, scheduling and the job's server-side
child process. Must not touch the client side (``api``, ``shell``, ``backends``) or the
shape of commands (that is ``commands``); it binds one handler per server command. Its link
to each site is the wire's requesting end (``console.wire.requesting``) and the errors a site
answers with are the wire's (``console.wire.exceptions``): what the admin client and the
server share lives below both (tests/test_import_structure.py holds this). ``app.Server``
wires the parts (site registry, scheduler, runner, log relay); each part depends only on the
small interface of ``interfaces`` it needs, never on ``app``.
"""
