"""Middleware, one concern per module; none imports another."""
