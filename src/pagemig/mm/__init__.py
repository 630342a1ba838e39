"""The model of Linux memory management: one module per kernel source file.

Modules here take the machine state (a :class:`pagemig.kernel.Kernel`, named ``k``) as
their first argument.  They refer to that class in annotations only, so that imports
point downwards: cli -> script -> backends -> kernel -> mm -> (sched, cred, cpuset).
"""
