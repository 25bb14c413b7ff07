"""The pipeline engine: sources, coordinators, appliers and middleware."""
