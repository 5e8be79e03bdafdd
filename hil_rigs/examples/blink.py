# Blinks a heart on the micro:bit's LED matrix: `mpharness run microbit hil_rigs/examples/blink.py`
from microbit import Image, display, sleep

for _ in range(3):
    display.show(Image.HEART)
    sleep(200)
    display.clear()
    sleep(200)
print("blinked 3 times")
