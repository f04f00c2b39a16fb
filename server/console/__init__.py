"""The social workers' console: queue, request pages, phone pages for teams."""
