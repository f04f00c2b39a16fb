"""The Linli sync contract: wire messages, ids, cursors, codec and the HTTP client engine.

Pure and shared by both sides; imports neither `server` nor `kiosk`.
"""
