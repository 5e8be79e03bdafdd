# Board-side: print the board's local time as a tuple literal (year, month, day, h, m, s).
def _mph_gettime():
    import time

    print(repr(tuple(time.localtime()[:6])))
