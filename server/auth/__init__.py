"""Console users, sign-in, sessions, and the one access policy."""
