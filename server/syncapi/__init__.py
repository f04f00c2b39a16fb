"""The sync API: enrolment, push, pull and reconcile for kiosks."""
