"""Health checks for load balancers and monitoring."""
