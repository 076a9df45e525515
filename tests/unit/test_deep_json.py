"""A JSON bomb is refused without running anything else at the edge of the stack."""

import subprocess
import sys
import textwrap

SWEEP = textwrap.dedent('''
    import gc, sys
    from transports.errors import ProtocolError, dispatch_json

    BOMB = "[" * 30_000 + "]" * 30_000

    class Held:
        """Garbage in a cycle whose finalizer does ordinary Python work, as a
        call's resources do when the collector frees them."""
        finalized = 0
        def __init__(self):
            self.me = self
        def __del__(self):
            Held.finalized += len(repr([1, 2, 3]))

    failed = []
    sys.unraisablehook = lambda u: failed.append(type(u.exc_value).__name__)
    for allocations in range(100, 1100, 10):
        gc.collect()
        gc.set_threshold(allocations)
        for _ in range(5):
            Held()
        try:
            dispatch_json(BOMB, 100_000, "event", {}, "unknown_event")
        except ProtocolError as error:
            assert "nested too deeply" in str(error)
        gc.set_threshold(700)
    gc.collect()
    print(len(failed), Held.finalized > 0)
''')


def test_a_json_bomb_runs_no_finalizer_deep_in_the_parser():
    """The parser allocates a list per level. With the collector's threshold
    swept across the depths it reaches, some collection lands deep inside it,
    where every finalizer it runs fails with RecursionError (and what it was to
    free, leaks). A fresh interpreter, so that the stack starts where a
    gateway's does."""
    out = subprocess.run([sys.executable, "-c", SWEEP], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    assert out.stdout.split() == ["0", "True"], out.stdout + out.stderr
