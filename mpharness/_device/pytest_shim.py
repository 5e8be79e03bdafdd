# A tiny stand-in for the parts of pytest an on-board test may call: raises, skip, fail.
# Sent only when the shipped test code mentions the name "pytest". MicroPython 1.9 compatible.
class _MphS(Exception):
    pass
class _MphR:
    def __init__(s, t, m):
        s.t = t
        s.m = m
        s.value = None
    def __enter__(s):
        return s
    def __exit__(s, t, v, b):
        if t is None:
            raise _MphF('DID NOT RAISE ' + repr(s.t), 'fail', '', '')
        if not issubclass(t, s.t):
            return False
        s.value = v
        if s.m is not None:
            import re
            if not re.search(s.m, str(v)):
                raise _MphF('Regex pattern did not match: ' + repr(s.m) + ' vs ' + repr(str(v)), 'fail', '', '')
        return True
class pytest:
    @staticmethod
    def raises(t, match=None):
        return _MphR(t, match)
    @staticmethod
    def skip(reason=''):
        raise _MphS(reason)
    @staticmethod
    def fail(reason=''):
        raise _MphF(reason, 'fail', '', '')
