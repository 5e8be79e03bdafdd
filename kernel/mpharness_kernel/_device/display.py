# Board-side rich output helper, defined in the board's globals by the kernel when a cell
# calls display(...). Runs on MicroPython 1.9.2 and later.
# Prints one display frame: \x1e!KEY MIME PAYLOAD\x1f (decoded by mpharness_kernel.cells).
# KEY is the kernel session's secret: the host defines _mph_Screen = _mph_display(KEY) and
# deletes the factory, so the key lives only in this closure (MicroPython functions expose no
# closure cells) and board output that merely looks like a frame stays plain text.
# _mph_Screen(None) is the kernel's display(); _mph_Screen(screen) also wraps an object that
# owns the name `display` (the micro:bit's LED screen after `from microbit import *`):
# display(data) shows rich output, display.show(...) and friends reach the screen. Calling
# goes straight to __call__ (one frame: the micro:bit's stack allows only a few).
# bytes -> base64 (or hex: + hex digits without binascii); other data for a JSON MIME type
# -> repr(), read on the host as a Python literal (no json module needed); else str().
# display_id (live displays) goes to _mph_show from live.py.
def _mph_display(key):
    class _mph_Screen:
        def __init__(self, screen=None):
            self._screen = screen

        def __getattr__(self, name):
            return getattr(self._screen, name)

        def __call__(self, data, mime=None, display_id=None):
            if display_id is not None:
                return _mph_show(data, mime, display_id)
            if mime is None:
                if isinstance(data, (bytes, bytearray)):
                    mime = "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
                else:
                    mime = "application/json"
            print("\x1e!" + key + " " + mime + " ", end="")
            if isinstance(data, (bytes, bytearray)):
                try:
                    import binascii
                except ImportError:
                    try:
                        import ubinascii as binascii
                    except ImportError:
                        binascii = None
                if binascii:
                    print(binascii.b2a_base64(data).decode().strip(), end="")
                else:
                    print("hex:", end="")
                    for b in data:
                        print("%02x" % b, end="")
            elif mime[-4:] == "json":
                print(repr(data), end="")
            else:
                print(data if isinstance(data, str) else str(data), end="")
            print("\x1f")

    return _mph_Screen
