"""The command line: ``pagemig run``, ``compare``, ``parity``, ``demo``."""
