"""Open311 GeoReport v2 for standard clients and departments' systems."""
