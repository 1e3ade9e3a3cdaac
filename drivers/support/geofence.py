"""Point-in-polygon for geofences declared in a profile as [[lat, lon], ...].

Ray casting in the lat/lon plane: exact enough for a warehouse or a yard (hundreds of
metres, far from the poles and the antimeridian), and it needs nothing but the vertices.
"""

from __future__ import annotations

from collections.abc import Sequence


def inside(lat: float, lon: float, polygon: Sequence[Sequence[float]]) -> bool:
    n = len(polygon)
    result = False
    j = n - 1
    for i in range(n):
        yi, xi = polygon[i][0], polygon[i][1]
        yj, xj = polygon[j][0], polygon[j][1]
        if (yi > lat) != (yj > lat):
            x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi)
            if lon < x_cross:
                result = not result
        j = i
    return result
