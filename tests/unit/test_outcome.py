from hypothesis import given
from hypothesis import strategies as st

from relaybox.core.errors import MissingOutcomeError
from relaybox.core.outcome import Failure, Outcome, merge


class Rec:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Rec({self.n})"


def test_reconcile_keeps_a_complete_outcome_unchanged() -> None:
    a, b = Rec(1), Rec(2)
    outcome = Outcome([a], [Failure(b, ValueError())])
    assert outcome.reconcile([a, b]) is outcome


def test_reconcile_fails_missing_records_with_the_fatal_error() -> None:
    a, b, c = Rec(1), Rec(2), Rec(3)
    boom = RuntimeError("down")
    result = Outcome([a], error=boom).reconcile([a, b, c])
    assert result.delivered == (a,)
    assert [(f.record, f.error) for f in result.failed] == [(b, boom), (c, boom)]
    assert result.error is boom


def test_reconcile_fails_missing_records_without_error_as_missing_outcome() -> None:
    a, b = Rec(1), Rec(2)
    result = Outcome([a]).reconcile([a, b])
    assert len(result.failed) == 1
    assert result.failed[0].record is b
    assert isinstance(result.failed[0].error, MissingOutcomeError)


def test_reconcile_drops_foreign_records_and_duplicate_listings() -> None:
    a, b, stranger = Rec(1), Rec(2), Rec(9)
    result = Outcome([a, a, stranger], [Failure(a, ValueError())], [Failure(b, KeyError())])
    result = result.reconcile([a, b])
    assert result.delivered == (a,)
    assert result.failed == ()
    assert [f.record for f in result.dead] == [b]


def test_reconcile_counts_the_same_object_listed_twice_in_the_input() -> None:
    a = Rec(1)
    result = Outcome([a]).reconcile([a, a])
    assert result.delivered == (a,)
    assert [f.record for f in result.failed] == [a]


def test_merge_concatenates_and_keeps_the_first_error() -> None:
    a, b = Rec(1), Rec(2)
    first, second = RuntimeError("1"), RuntimeError("2")
    merged = merge([Outcome([a], error=first), Outcome([b], error=second)])
    assert merged.delivered == (a, b)
    assert merged.error is first


@given(st.lists(st.sampled_from(["d", "f", "x", "missing"]), max_size=30))
def test_reconcile_accounts_for_every_input_record_exactly_once(fates: list[str]) -> None:
    records = [Rec(i) for i in range(len(fates))]
    delivered = [r for r, f in zip(records, fates, strict=True) if f == "d"]
    failed = [Failure(r, ValueError()) for r, f in zip(records, fates, strict=True) if f == "f"]
    dead = [Failure(r, ValueError()) for r, f in zip(records, fates, strict=True) if f == "x"]
    result = Outcome(delivered + delivered, failed, dead).reconcile(records)
    seen = [*result.delivered, *(f.record for f in result.failed), *(f.record for f in result.dead)]
    assert sorted(id(r) for r in seen) == sorted(id(r) for r in records)


def test_records_failed_by_a_fatal_error_are_flagged_fatal() -> None:
    a, b = Rec(1), Rec(2)
    result = Outcome([a], error=RuntimeError("down")).reconcile([a, b])
    assert result.failed[0].fatal
    assert not Outcome().reconcile([a]).failed[0].fatal  # missing without error: not fatal
    assert all(f.fatal for f in Outcome.all_failed([a, b], ValueError(), fatal=True).failed)
