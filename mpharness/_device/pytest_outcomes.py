# pytest.skip/fail/xfail/importorskip on the board (module _mphsk<hash>): imported by the test
# program when the test's code names one of them; sets them on the board's pytest (_MPHPT).
# MicroPython 1.9 compatible.
import _MPHPT as _P
def skip(reason=''):
    raise _P.Skipped(reason)
def fail(reason=''):
    raise _P.Failed(reason)
def xfail(reason=''):
    raise _P.XFailed(reason)
def importorskip(modname, minversion=None, reason=None):
    try:
        return __import__(modname)
    except ImportError:
        raise _P.Skipped(reason or ('could not import ' + repr(modname)))
_P.skip = skip
_P.fail = fail
_P.xfail = xfail
_P.importorskip = importorskip
