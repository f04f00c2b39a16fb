"""The Linli kiosk: durable local store, touch UI, sync worker and window."""
