"""Teams, outside agencies and escalation deliveries."""
