# Board-side wrapper that lets an existing `display` object (the micro:bit's LED screen, bound
# by `from microbit import *`) also take the kernel's rich output: display(data) calls the
# kernel's helper (_mph_rich, from display.py), display.show(...) and friends reach the screen.
class _mph_Screen:
    def __init__(self, screen):
        self._screen = screen

    def __getattr__(self, name):
        return getattr(self._screen, name)

    def __call__(self, *args, **kwargs):
        return globals().get("_mph_show", _mph_rich)(*args, **kwargs)
