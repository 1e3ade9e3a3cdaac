"""I2C sensors through Adafruit Blinka and the unmodified CircuitPython drivers."""
