"""Board tools built on :func:`mpharness.open_board`: flashing firmware (esptool) and serving
a local board on the network (RFC 2217).

May import: everything below (``connect``, ``sharing/``, ``rigs/``, ``transports/``).
Front ends (``cli/``, the pytest plugin) call these.
"""
