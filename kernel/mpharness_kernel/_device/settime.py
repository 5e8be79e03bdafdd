# Board-side: set the RTC. t = (year, month, day, weekday 0=Monday, hour, minute, second).
def _mph_settime(t):
    import machine

    machine.RTC().datetime(t + (0,))
    print("ok")
