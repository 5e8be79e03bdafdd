# pytest.skip/fail/xfail/importorskip on the board (module _mphsk<hash>): imported by the test
# program when the test's code names one of them; sets them on the board's pytest (_MPHPT).
# pytest's keyword arguments (allow_module_level, pytrace) are accepted and ignored.
# MicroPython 1.9 compatible.
import _MPHPT as _P
def skip(reason='', **kw):
    raise _P.MphSkipped(reason)
def fail(reason='', **kw):
    raise _P.Failed(reason)
def xfail(reason='', **kw):
    raise _P.MphXFailed(reason)
def importorskip(modname, minversion=None, reason=None):
    try:
        return __import__(modname)
    except ImportError:
        raise _P.MphSkipped(reason or ('could not import ' + repr(modname)))
_P.skip = skip
_P.fail = fail
_P.xfail = xfail
_P.importorskip = importorskip
