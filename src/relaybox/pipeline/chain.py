"""Composing middleware: one shape, composed once, first = outermost."""

from __future__ import annotations

from typing import TypeVar

from relaybox.ports.applier import Applier, Middleware

T = TypeVar("T")


def chain(*middleware: Middleware[T]) -> Middleware[T]:
    """One middleware made of several; ``chain(a, b)(x)`` is ``a(b(x))``.

    The first middleware is the outermost: it sees the call first and the
    outcome last. ``chain()`` is the identity.
    """

    def wrap(applier: Applier[T]) -> Applier[T]:
        for layer in reversed(middleware):
            applier = layer(applier)
        return applier

    return wrap
