"""The command line: ``pagemig run``, ``pagemig demo``."""
