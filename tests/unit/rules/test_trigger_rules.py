"""Trigger rules: Airflow's decisions, checked by example, against a transcription of
Airflow's code, and by property (no WAIT once everything finished, monotone decisions)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.exceptions import InvalidTriggerRuleError
from tradewind.rules.states import FINISHED_TI_STATES, TaskInstanceState
from tradewind.rules.trigger_rules import Decision, TriggerRule, UpstreamCounts, evaluate

TR = TriggerRule
S = TaskInstanceState
RUN, WAIT, SKIP, UF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED

FINISHED = sorted(FINISHED_TI_STATES, key=lambda s: s.value)


def counts(*states: str) -> UpstreamCounts:
    return UpstreamCounts.from_states(states)


# (rule, upstream states, decision). "none" marks an upstream that is still unfinished.
EXAMPLES = [
    # all_success
    (TR.ALL_SUCCESS, ["success", "success"], RUN),
    (TR.ALL_SUCCESS, ["success", "running"], WAIT),
    (TR.ALL_SUCCESS, ["failed", "running"], UF),
    (TR.ALL_SUCCESS, ["upstream_failed", "success"], UF),
    (TR.ALL_SUCCESS, ["skipped", "running"], SKIP),
    (TR.ALL_SUCCESS, ["skipped", "failed"], UF),
    (TR.ALL_SUCCESS, ["success", "removed"], RUN),
    # all_failed
    (TR.ALL_FAILED, ["failed", "upstream_failed"], RUN),
    (TR.ALL_FAILED, ["failed", "none"], WAIT),
    (TR.ALL_FAILED, ["failed", "success"], SKIP),
    (TR.ALL_FAILED, ["skipped", "none"], SKIP),
    (TR.ALL_FAILED, ["failed", "removed"], RUN),
    # all_done
    (TR.ALL_DONE, ["success", "failed", "skipped", "upstream_failed", "removed"], RUN),
    (TR.ALL_DONE, ["success", "up_for_retry"], WAIT),
    (TR.ALL_DONE, ["failed", "queued"], WAIT),
    # all_skipped
    (TR.ALL_SKIPPED, ["skipped", "skipped"], RUN),
    (TR.ALL_SKIPPED, ["skipped", "scheduled"], WAIT),
    (TR.ALL_SKIPPED, ["success", "none"], SKIP),
    (TR.ALL_SKIPPED, ["upstream_failed", "skipped"], SKIP),
    (TR.ALL_SKIPPED, ["skipped", "removed"], RUN),
    # one_success
    (TR.ONE_SUCCESS, ["success", "running"], RUN),
    (TR.ONE_SUCCESS, ["failed", "running"], WAIT),
    (TR.ONE_SUCCESS, ["skipped", "skipped"], SKIP),
    (TR.ONE_SUCCESS, ["skipped", "failed"], UF),
    (TR.ONE_SUCCESS, ["upstream_failed", "upstream_failed"], UF),
    # one_failed
    (TR.ONE_FAILED, ["failed", "running"], RUN),
    (TR.ONE_FAILED, ["upstream_failed", "running"], RUN),
    (TR.ONE_FAILED, ["success", "running"], WAIT),
    (TR.ONE_FAILED, ["success", "skipped"], SKIP),
    # one_done: success or failed, not upstream_failed (Airflow's code)
    (TR.ONE_DONE, ["success", "running"], RUN),
    (TR.ONE_DONE, ["failed", "running"], RUN),
    (TR.ONE_DONE, ["upstream_failed", "running"], WAIT),
    (TR.ONE_DONE, ["skipped", "running"], WAIT),
    (TR.ONE_DONE, ["skipped", "upstream_failed"], SKIP),
    # none_failed
    (TR.NONE_FAILED, ["success", "skipped"], RUN),
    (TR.NONE_FAILED, ["skipped", "skipped"], RUN),
    (TR.NONE_FAILED, ["success", "running"], WAIT),
    (TR.NONE_FAILED, ["failed", "running"], UF),
    (TR.NONE_FAILED, ["upstream_failed", "success"], UF),
    # none_failed_min_one_success
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["success", "skipped"], RUN),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["skipped", "skipped"], SKIP),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["skipped", "running"], WAIT),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["success", "running"], WAIT),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["failed", "running"], UF),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["skipped", "removed"], SKIP),
    # none_skipped
    (TR.NONE_SKIPPED, ["success", "failed", "upstream_failed"], RUN),
    (TR.NONE_SKIPPED, ["success", "running"], WAIT),
    (TR.NONE_SKIPPED, ["skipped", "running"], SKIP),
    # always
    (TR.ALWAYS, ["running", "none"], RUN),
    (TR.ALWAYS, ["failed", "skipped"], RUN),
]


@pytest.mark.parametrize(("rule", "states", "expected"), EXAMPLES)
def test_examples(rule: TriggerRule, states: list[str], expected: Decision) -> None:
    assert evaluate(rule, counts(*states)) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_no_upstream_runs_for_every_rule(rule: TriggerRule) -> None:
    assert evaluate(rule, UpstreamCounts(total=0)) is RUN
    # Only removed upstreams: as if there were none.
    assert evaluate(rule, counts("removed", "removed")) is RUN


def test_every_rule_has_examples() -> None:
    assert {rule for rule, _, _ in EXAMPLES} == set(TriggerRule)


# -- parsing ---------------------------------------------------------------------------


def test_parse_accepts_values_and_members() -> None:
    assert TriggerRule.parse("one_success") is TR.ONE_SUCCESS
    assert TriggerRule.parse(TR.ALWAYS) is TR.ALWAYS
    assert str(TR.NONE_FAILED) == "none_failed"


@pytest.mark.parametrize("bad", ["all_sucess", "ALL_SUCCESS", "", "dummy"])
def test_parse_rejects_unknown_and_lists_valid(bad: str) -> None:
    with pytest.raises(InvalidTriggerRuleError) as info:
        TriggerRule.parse(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(rule.value in message for rule in TriggerRule)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidTriggerRuleError):
        TriggerRule.parse(3)  # type: ignore[arg-type]


def test_evaluate_parses_string_rules() -> None:
    assert evaluate("all_done", counts("failed")) is RUN
    with pytest.raises(InvalidTriggerRuleError):
        evaluate("nope", counts("failed"))


# -- counts ----------------------------------------------------------------------------


def test_from_states_counts_each_state() -> None:
    c = counts("success", "success", "skipped", "failed", "upstream_failed", "removed", "none")
    assert c == UpstreamCounts(
        total=7, success=2, skipped=1, failed=1, upstream_failed=1, removed=1
    )
    assert c.done == 6
    assert c.unfinished == 1
    assert UpstreamCounts.from_states([S.RUNNING, S.UP_FOR_RETRY]).done == 0


def test_from_states_rejects_unknown_states() -> None:
    with pytest.raises(ValueError):
        UpstreamCounts.from_states(["succeeded"])


@pytest.mark.parametrize(
    "kwargs",
    [{"total": -1}, {"total": 1, "success": 2}, {"total": 2, "failed": -1}],
)
def test_counts_reject_impossible_values(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        UpstreamCounts(**kwargs)


# -- against Airflow's code ------------------------------------------------------------


def airflow_decision(rule: TriggerRule, c: UpstreamCounts) -> Decision:
    """A transcription of Airflow's ``TriggerRuleDep._evaluate_direct_relatives``
    (unmapped task, ``flag_upstream_failed=True``), to compare against."""
    upstream = c.total
    success, skipped = c.success, c.skipped
    failed, upstream_failed, done = c.failed, c.upstream_failed, c.done
    if upstream == 0 or rule is TR.ALWAYS:
        return RUN
    upstream_done = done >= upstream
    new_state = None
    if rule is TR.ALL_SUCCESS:
        if upstream_failed or failed:
            new_state = UF
        elif skipped:
            new_state = SKIP
    elif rule is TR.ALL_FAILED:
        if success or skipped:
            new_state = SKIP
    elif rule is TR.ONE_SUCCESS:
        if upstream_done and done == skipped:
            new_state = SKIP
        elif upstream_done and success <= 0:
            new_state = UF
    elif rule is TR.ONE_FAILED:
        if upstream_done and not (failed or upstream_failed):
            new_state = SKIP
    elif rule is TR.ONE_DONE:
        if upstream_done and not (failed or success):
            new_state = SKIP
    elif rule is TR.NONE_FAILED:
        if upstream_failed or failed:
            new_state = UF
    elif rule is TR.NONE_FAILED_MIN_ONE_SUCCESS:
        if upstream_failed or failed:
            new_state = UF
        elif skipped == upstream:
            new_state = SKIP
    elif rule is TR.NONE_SKIPPED:
        if skipped:
            new_state = SKIP
    elif rule is TR.ALL_SKIPPED and (success or failed or upstream_failed):
        new_state = SKIP
    if new_state is not None:
        return new_state

    passing = {
        TR.ONE_SUCCESS: success > 0,
        TR.ONE_FAILED: bool(failed or upstream_failed),
        TR.ONE_DONE: success + failed > 0,
        TR.ALL_SUCCESS: upstream - success <= 0,
        TR.ALL_FAILED: upstream - failed - upstream_failed <= 0,
        TR.ALL_DONE: upstream_done,
        TR.NONE_FAILED: upstream - success - skipped <= 0,
        TR.NONE_FAILED_MIN_ONE_SUCCESS: upstream - success - skipped <= 0,
        TR.NONE_SKIPPED: upstream_done and skipped == 0,
        TR.ALL_SKIPPED: upstream - skipped <= 0,
    }[rule]
    return RUN if passing else WAIT


small = st.integers(min_value=0, max_value=4)


@st.composite
def upstream_counts(draw: st.DrawFn, removed: bool = True) -> UpstreamCounts:
    finished = {
        "success": draw(small),
        "skipped": draw(small),
        "failed": draw(small),
        "upstream_failed": draw(small),
        "removed": draw(small) if removed else 0,
    }
    return UpstreamCounts(total=sum(finished.values()) + draw(small), **finished)


@given(st.sampled_from(TriggerRule), upstream_counts(removed=False))
def test_matches_airflow_without_removed_upstreams(rule: TriggerRule, c: UpstreamCounts) -> None:
    assert evaluate(rule, c) is airflow_decision(rule, c)


# -- properties ------------------------------------------------------------------------


@given(st.sampled_from(TriggerRule), upstream_counts())
def test_wait_only_while_something_is_unfinished(rule: TriggerRule, c: UpstreamCounts) -> None:
    if evaluate(rule, c) is WAIT:
        assert c.unfinished > 0
    if c.unfinished == 0:
        assert evaluate(rule, c) is not WAIT


@given(upstream_counts())
def test_all_success_runs_only_when_all_succeeded(c: UpstreamCounts) -> None:
    decision = evaluate(TR.ALL_SUCCESS, c)
    assert (decision is RUN) == (c.success == c.total - c.removed)


@given(upstream_counts())
def test_all_failed_runs_only_when_all_failed(c: UpstreamCounts) -> None:
    decision = evaluate(TR.ALL_FAILED, c)
    assert (decision is RUN) == (c.failed + c.upstream_failed == c.total - c.removed)


@given(upstream_counts())
def test_none_failed_never_runs_after_a_failure(c: UpstreamCounts) -> None:
    for rule in (TR.NONE_FAILED, TR.NONE_FAILED_MIN_ONE_SUCCESS, TR.ALL_SUCCESS):
        if c.failed or c.upstream_failed:
            assert evaluate(rule, c) is UF


@given(upstream_counts())
def test_min_one_success_runs_only_with_a_success(c: UpstreamCounts) -> None:
    if evaluate(TR.NONE_FAILED_MIN_ONE_SUCCESS, c) is RUN and c.total > c.removed:
        assert c.success >= 1
    if evaluate(TR.ONE_SUCCESS, c) is RUN and c.total > c.removed:
        assert c.success >= 1


@given(st.sampled_from(TriggerRule), upstream_counts())
def test_always_and_all_done(rule: TriggerRule, c: UpstreamCounts) -> None:
    assert evaluate(TR.ALWAYS, c) is RUN
    assert (evaluate(TR.ALL_DONE, c) is RUN) == (c.unfinished == 0)


@given(
    st.sampled_from(TriggerRule),
    st.lists(st.sampled_from(FINISHED), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_decisions_are_monotone_as_upstreams_finish(
    rule: TriggerRule, outcomes: list[TaskInstanceState], rnd: random.Random
) -> None:
    """Upstreams finish one at a time, in any order. Once a decision is not WAIT it stays
    the same, except that all_success may go from SKIP to UPSTREAM_FAILED (a failure
    arriving after a skip; Airflow checks failures first). It never returns to WAIT."""
    order = list(outcomes)
    rnd.shuffle(order)
    total = len(order)
    decisions = []
    for finished in range(total + 1):
        states: list[TaskInstanceState] = order[:finished] + [S.RUNNING] * (total - finished)
        decisions.append(evaluate(rule, UpstreamCounts.from_states(states)))
    first = next((i for i, d in enumerate(decisions) if d is not WAIT), None)
    assert first is not None  # everything finished: never WAIT
    later = decisions[first:]
    assert WAIT not in later
    if rule is TR.ALL_SUCCESS:
        if later[0] is SKIP:
            assert set(later) <= {SKIP, UF}
            # Once UF, stays UF.
            if UF in later:
                assert all(d is UF for d in later[later.index(UF) :])
        else:
            assert set(later) == {later[0]}
    else:
        assert set(later) == {later[0]}, decisions
