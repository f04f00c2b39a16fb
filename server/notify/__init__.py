"""Notifications: dispatch, reassignment, emergencies and overdue jobs told to the groups and
phones a community configures (企业微信 and 钉钉 group robots, SMS), through the outbox."""
