"""On-site vision: TFLite detectors, camera sources, motion gate, tracker and counters.

Everything here turns frames into numbers (counts, gauges); frames never leave this
package except into the opt-in, encrypted local evidence ring (``evidence.py``).
Only stdlib, numpy and the runtime libraries (OpenCV, the TFLite runtime) are imported,
and those lazily, so importing ``inference`` costs nothing on a gateway without cameras.
"""
