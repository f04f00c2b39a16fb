"""Care watch (平安守望): signs of life of the elders a community watches, and their follow-up."""
