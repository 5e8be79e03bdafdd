# Board-side live displays (a loop updating one output in place): display(..., display_id=ID),
# update_display(data, display_id=ID), clear_output(wait=False). Defined by the kernel when a
# cell uses them, after display.py; the kernel then binds `display` to _mph_show where it is
# the plain helper (display.py's _mph_Screen.__call__ calls _mph_show for a display_id). They
# ride on the kernel's own display
# frames (_mph_rich):
# the id goes in front of the MIME type, "#ID#MIME" to create, "^ID^MIME" to update, and
# clear_output sends the pseudo type "x-mpharness/clear" with payload 1 (wait) or 0.
def _mph_mime(data, mime):
    if mime is None:
        if isinstance(data, (bytes, bytearray)):
            return "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
        return "application/json"
    return mime


def _mph_id(display_id):
    return str(display_id).replace(" ", "_").replace("#", "_").replace("^", "_")


def _mph_show(data, mime=None, display_id=None):
    if display_id is None:
        return _mph_rich(data, mime)
    _mph_rich(data, "#" + _mph_id(display_id) + "#" + _mph_mime(data, mime))


def update_display(data, mime=None, display_id=None):
    _mph_rich(data, "^" + _mph_id(display_id) + "^" + _mph_mime(data, mime))


def clear_output(wait=False):
    _mph_rich("1" if wait else "0", "x-mpharness/clear")
