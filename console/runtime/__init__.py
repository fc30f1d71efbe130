"""The job processes: what runs inside a job's child processes.

Owns the server app's child (``python -m console.runtime.server_app``) and the site app's
child (``console.runtime.site_app``): loading an app's config and ``custom/`` code, the
context handed to it, the executor contract, built-in workflows, each child's ``log.txt``
and its JSON-lines control channel to the process that started it, the limits a child sets
on itself (``confine``); for the daemons, how a job process is started, its output relayed
within the log budget (``procs``, ``job_output``) and everything it leaves behind ended
(``adoption``); also the confined read-only shell commands on a participant's folder. Must not touch the job store, the
admin endpoint or the network: the parent process does all of that.
"""
