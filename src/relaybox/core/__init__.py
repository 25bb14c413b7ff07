"""Values, errors, pure decisions and the clock: the standard library only."""
