"""Run a scenario on a backend and produce the oracle probe's JSON objects.

The runner does what the oracle's probe does in the guest: it prints the initial ``env``,
runs every action of the scenario in the process it names (the probe or a live child),
and ends with a ``verify`` of every mapping (line -1).  Each action is the function its
declaration in the registry (`pagemig.script.actions`) names, called with the run's state
(`pagemig.script.core.RunnerState`), the process and the action.

Errors in a scenario (unknown names, bad values, an action or option the model does not
support yet, an access that would kill the process, a store the host has no memory left
for) raise :class:`ScriptError` (``file:line: message``); nothing else is caught here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pagemig.backends.base import Backend, Unsupported
from pagemig.mm.physmem import HostMemoryExhausted
from pagemig.script.actions import ACTIONS
from pagemig.script.core import RunnerState, ScriptFault
from pagemig.script.parse import Action, Script, ScriptError

__all__ = ["Runner", "ScriptError", "ScriptFault", "run_script"]


class Runner(RunnerState):
    """Executes a parsed :class:`Script` on a backend, emitting one dict per probe object."""

    def run(self) -> None:
        """Run the whole scenario: env, every action, the final verify."""
        self.proc.handle = self.b.start()
        self.line = 0
        self.emit("env", "parent", self._env(self.proc))
        for action in self.script.actions:
            self.line = action.line
            # One actor: writeback an earlier action started without waiting is done by now.
            self.b.complete_writeback()
            self._dispatch(action)
            if self.after_action is not None:
                self.after_action(action)
        self.line = -1
        verify = ACTIONS["verify"].run
        assert verify is not None
        verify(self, self.proc, Action(-1, "verify", (), {}, None, "verify"))

    def _dispatch(self, action: Action) -> None:
        """Run one action in its process through its declaration in the registry."""
        proc = self.proc
        if action.child is not None:
            child = proc.children.get(action.child)
            if child is None or child.alive != 1:
                raise self.error(f"no such live child: {action.child}")
            proc = child.proc
        run = ACTIONS[action.op].run
        if run is None:
            raise self.error(f"not supported yet: {action.op}")
        try:
            run(self, proc, action)
        except ValueError as e:
            raise self.error(str(e)) from None
        except ScriptFault as e:
            raise self.error(str(e)) from None
        except Unsupported as e:
            raise self.error(f"not supported yet: {e}") from None
        except HostMemoryExhausted as e:
            raise self.error(str(e)) from None


def run_script(backend: Backend, script: Script, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run ``script`` on ``backend``; ScriptError for a bad scenario."""
    Runner(backend, script, emit).run()
