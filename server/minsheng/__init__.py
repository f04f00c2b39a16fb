"""民生实事清单: a community's list of needs followed to done, and suggestions from patterns."""
