"""Virtual boards: real MicroPython firmware run locally (unix port on a pty, QEMU micro:bit)."""
