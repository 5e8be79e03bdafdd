# The board's stand-in for pytest (module _mphpy<hash>): a test module's `import pytest` /
# `from pytest import ...` is rewritten to import it. skip, fail, xfail, importorskip, raises
# and approx; raises and approx live in modules of their own, which the test program imports
# only when the test's code names them (a micro:bit has about 9 KB of heap for everything).
# pytest.mark, fixture and param stay on the host (the host leaves out the code that uses
# them). _MPHPT, _MPHRS and _MPHAP are replaced by the board names of those modules.
# MicroPython 1.9 compatible.
from _MPHPT import OutcomeException, Skipped, Failed, XFailed


def skip(reason=""):
    raise Skipped(reason)


def fail(reason=""):
    raise Failed(reason)


def xfail(reason=""):
    raise XFailed(reason)


def importorskip(modname, minversion=None, reason=None):
    try:
        return __import__(modname)
    except ImportError:
        raise Skipped(reason or ("could not import " + repr(modname)))


# raises and approx: the test program imports their modules first when the test's code names
# them, and then sets these names to the real ones (a wrapper would cost a call level).
def raises(t, *args, **kw):
    from _MPHRS import raises

    return raises(t, *args, **kw)


def approx(expected, rel=None, abs=None):
    from _MPHAP import Approx

    return Approx(expected, rel, abs)
