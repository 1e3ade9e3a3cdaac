"""Modbus helpers shared by the RTU and TCP drivers: register maps, coalescing, decoding."""
