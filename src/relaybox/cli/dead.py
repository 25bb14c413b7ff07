"""``relaybox dead``: list, inspect, replay and purge dead letters."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

import click
from rich.progress import Progress

from relaybox.cli.options import run, settings_of, store_options
from relaybox.cli.render import console, dead_detail, dead_json, dead_table
from relaybox.core.errors import ConfigurationError
from relaybox.ports.store import DeadFilter
from relaybox.service import (
    ChunkProgress,
    Settings,
    Store,
    find_dead,
    letters,
    on_ready_store,
    parse_duration,
    plan_purge,
    purge_dead,
    replay_dead,
    require_dead,
    unpark_all,
)

_topic = click.option("--topic", help="Only dead letters of this topic.")
_key = click.option("--key", help="Only dead letters of this key.")


@click.group("dead")
def dead_group() -> None:
    """List, inspect, replay and purge dead letters (events that failed for good)."""


@dead_group.command("list")
@store_options
@_topic
@_key
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_context
def list_command(
    ctx: click.Context, topic: str | None, key: str | None, limit: int, as_json: bool
) -> None:
    """List dead letters, oldest first."""
    where = DeadFilter(topic=topic, key=key)
    letters = run(on_ready_store(settings_of(ctx), lambda s: s.dead_letters(where, limit)))
    if as_json:
        for letter in letters:
            click.echo(json.dumps(dead_json(letter)))
    elif letters:
        console().print(dead_table(letters))
    else:
        click.echo("no dead letters")


@dead_group.command("show")
@store_options
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show_command(ctx: click.Context, event_id: str, as_json: bool) -> None:
    """Show one dead letter: error, attempts, first and last failure, and its payload."""
    letter = run(on_ready_store(settings_of(ctx), lambda store: find_dead(store, event_id)))
    if as_json:
        click.echo(json.dumps(dead_json(letter), indent=2))
    else:
        console().print(dead_detail(letter), soft_wrap=True)


@dead_group.command("replay")
@store_options
@click.argument("event_ids", nargs=-1, metavar="[EVENT_ID]...")
@click.option("--all", "everything", is_flag=True, help="Allow replaying without a narrowing.")
@_topic
@_key
@click.pass_context
def replay_command(
    ctx: click.Context,
    *,
    event_ids: Sequence[str],
    everything: bool,
    topic: str | None,
    key: str | None,
) -> None:
    """Put dead letters back in the outbox, keeping each key's order.

    Give event ids, --topic/--key, or --all for every dead letter. A parked
    key's dead event goes back in front of the events it held, and the key is
    unparked. Runs in chunks of 500; safe while relays run. An EVENT_ID with
    no dead letter fails the command (exit 1) before anything is replayed.
    """
    where = _narrowing(event_ids, everything, topic=topic, key=key, older_than=None)
    settings = settings_of(ctx)
    if event_ids:
        run(on_ready_store(settings, lambda store: require_dead(store, list(event_ids))))
    done = _chunked(settings, where, "replaying", replay_dead)
    click.echo(f"replayed {letters(done)}")


@dead_group.command("purge")
@store_options
@click.argument("event_ids", nargs=-1, metavar="[EVENT_ID]...")
@click.option("--all", "everything", is_flag=True, help="Allow purging without a narrowing.")
@_topic
@_key
@click.option("--older-than", metavar="AGE", help="Only letters dead for longer, e.g. 7d.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--unpark", is_flag=True, help="Also unpark the keys parked on the purged letters.")
@click.pass_context
def purge_command(
    ctx: click.Context,
    *,
    event_ids: Sequence[str],
    everything: bool,
    topic: str | None,
    key: str | None,
    older_than: str | None,
    yes: bool,
    unpark: bool,
) -> None:
    """Delete dead letters for good.

    Give event ids, --topic/--key/--older-than, or --all for every dead letter.
    Says how many it will delete and asks first unless --yes. A key parked on
    a letter to purge would stay parked on an event that no longer exists: the
    purge is refused (exit 2) unless --unpark unparks those keys too.
    """
    age = None if older_than is None else _duration(older_than, "--older-than")
    where = _narrowing(event_ids, everything, topic=topic, key=key, older_than=age)
    settings = settings_of(ctx)  # bad settings fail before the question, not after
    plan = run(on_ready_store(settings, lambda store: plan_purge(store, where)))
    if plan.parked_keys and not unpark:
        keys = ", ".join(plan.parked_keys)
        which = f"key {keys} is" if len(plan.parked_keys) == 1 else f"keys {keys} are"
        raise ConfigurationError(
            f"{which} parked on a dead letter to purge and would stay parked on an event "
            "that no longer exists: add --unpark to unpark it as well, or "
            "`relaybox dead replay` instead"
        )
    if not yes:
        click.echo(f"{letters(plan.count)} match{'es' if plan.count == 1 else ''}.", err=True)
        click.confirm(f"Delete {letters(plan.count)} for good?", abort=True, err=True)
    done = _chunked(settings, where, "purging", purge_dead)
    click.echo(f"purged {letters(done)}")
    if plan.parked_keys:
        freed = run(on_ready_store(settings, lambda store: unpark_all(store, plan.parked_keys)))
        keys = ", ".join(plan.parked_keys)
        click.echo(f"unparked {freed} key{'' if freed == 1 else 's'}: {keys}")


Chunked = Callable[[Store, DeadFilter, ChunkProgress], Awaitable[int]]


def _chunked(settings: Settings, where: DeadFilter, verb: str, work: Chunked) -> int:
    """Run ``work(store, where, progress)`` with a progress bar when on a terminal."""
    screen = console(stderr=True)
    exact = where == DeadFilter()
    with Progress(console=screen, transient=True, disable=not screen.is_terminal) as bar:
        task = bar.add_task(verb, total=None)

        def progress(touched: int, bound: int) -> None:
            bar.update(task, advance=touched, total=bound if exact else None)

        return run(on_ready_store(settings, lambda store: work(store, where, progress)))


def _narrowing(
    ids: Sequence[str],
    everything: bool,
    *,
    topic: str | None,
    key: str | None,
    older_than: float | None,
) -> DeadFilter:
    where = DeadFilter(ids=list(ids) or None, topic=topic, key=key, older_than=older_than)
    if where == DeadFilter() and not everything:
        raise click.UsageError("say which dead letters: give EVENT_IDs, a filter, or --all")
    return where


def _duration(text: str, name: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None
