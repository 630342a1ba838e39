"""Backends: where a scenario's system calls run.

:class:`~pagemig.backends.base.Backend` is the interface; ``model`` runs them on the
in-process kernel model.  (A backend for this machine's real kernel is a later issue.)
"""
