"""The job processes: what runs inside a job's child process.

Owns the server app's child process (``python -m console.runtime.server_app``): loading
the app's config and custom code, its log, and the JSON-lines control channel to the
server's job runner. Must not touch the job store, the admin endpoint or the network.
"""
