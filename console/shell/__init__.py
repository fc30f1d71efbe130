"""The interactive console and its batch mode: ``flare-console [--kit KIT]``.

Owns everything a person sees: parsing a command line against the command registry,
completion (never waiting on the network), highlighting and themes, background
monitors printing above the prompt, the toolbar, keys, output formats and the pager,
history and config, and the scripted batch runner. Must not talk to the server except
through ``console.api`` and must not define commands (that is ``console.commands``).
"""
