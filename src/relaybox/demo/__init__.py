"""The embedded demo: a shop on SQLite writes orders and outbox events in one
transaction; a relay publishes them to a JSON-lines file through injected
failures; an audit proves every committed event came out exactly once, in
order, and no rolled-back one did. No servers needed."""

from relaybox.demo.options import DemoOptions
from relaybox.demo.run import play, run_demo
from relaybox.demo.summary import Check, DeadLetterNote, DemoSummary

__all__ = ["Check", "DeadLetterNote", "DemoOptions", "DemoSummary", "play", "run_demo"]
