"""GPIO inputs and bit-banged chips through Adafruit Blinka digitalio."""
