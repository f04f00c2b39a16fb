"""Reports per community and period, each with its formula: counts, measures, needs map."""
