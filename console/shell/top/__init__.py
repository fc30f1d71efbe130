"""``top``: the federation live, full screen: sites and jobs as they change.

Owns the view's state (``model``: rows of sites and jobs, fed by events and polls; ``answers``:
the values read in the backend's answers, ours and FLARE's), what feeds it over a ``Backend``
(``feed``: pushed events on our server, polls on FLARE's) and the prompt_toolkit application
(``view``: layout, keys, resizing, NO_COLOR) and what each of its lines says (``rows``: cells,
columns, the header's connection words). Must not touch the shell's prompt or its other commands:
it runs while the prompt is not shown and hands background lines (monitors, follows) a place on
its own screen meanwhile.
"""
