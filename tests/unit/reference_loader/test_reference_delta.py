"""The delta against the last load, and job declarations in the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import ConfigError, load_settings
from reference_loader.delta import (
    Change,
    Delta,
    DuplicateKey,
    plain_value_hash,
    value_hash,
    value_hashes,
)
from reference_loader.errors import JobConfigError, SourceMissing
from reference_loader.jobs import jobs_of, resolve_source, select_jobs, trigger_of

CONFIG = Path(__file__).resolve().parents[3] / "config" / "offload.toml"


def test_delta_classifies_new_changed_unchanged_and_deleted() -> None:
    previous = {b"k1": value_hash(b"v1"), b"k2": value_hash(b"v2"), b"k3": value_hash(b"v3")}
    delta = Delta(dict(previous))
    assert delta.offer(1, b"k1", b"v1") is Change.UNCHANGED
    assert delta.offer(2, b"k2", b"v2 new") is Change.CHANGED
    assert delta.offer(3, b"k4", b"v4") is Change.NEW
    assert delta.deleted() == [b"k3"]
    assert dict(delta.entries()) == {
        b"k1": value_hash(b"v1"),
        b"k2": value_hash(b"v2 new"),
        b"k4": value_hash(b"v4"),
    }


def test_delta_refuses_a_duplicate_key_naming_the_first_record() -> None:
    delta = Delta({})
    delta.offer(7, b"k", b"a")
    with pytest.raises(DuplicateKey) as caught:
        delta.offer(9, b"k", b"b")
    assert caught.value.first == 7


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    previous=st.dictionaries(st.binary(max_size=2), st.binary(max_size=2), max_size=8),
    batches=st.lists(
        st.lists(st.tuples(st.binary(max_size=2), st.binary(max_size=2)), max_size=8), max_size=4
    ),
)
def test_offer_batch_is_offer_record_by_record(
    previous: dict[bytes, bytes], batches: list[list[tuple[bytes, bytes]]]
) -> None:
    state = {k: value_hash(v) for k, v in previous.items()}
    one, many = Delta(dict(state)), Delta(dict(state))
    number = 0
    for batch in batches:
        numbers = list(range(number + 1, number + len(batch) + 1))
        number += len(batch)
        want: list[Change | None] = []
        firsts: dict[int, int] = {}
        for index, (n, (key, value)) in enumerate(zip(numbers, batch, strict=True)):
            try:
                want.append(one.offer(n, key, value))
            except DuplicateKey as exc:
                want.append(None)
                firsts[index] = exc.first
        hashes = value_hashes([v for _, v in batch])
        got = many.offer_batch(numbers, [k for k, _ in batch], hashes)
        assert got == (want, firsts)
    assert many.deleted() == one.deleted()
    assert list(many.entries()) == list(one.entries())


def test_value_hash_is_a_signed_64_bit_int() -> None:
    hashes = [value_hash(bytes([n])) for n in range(256)]
    assert all(-(2**63) <= h < 2**63 for h in hashes)
    assert any(h < 0 for h in hashes)
    assert dict(Delta({}).entries()) == {}
    delta = Delta({})
    for n in range(256):
        delta.offer(n + 1, bytes([n]), bytes([n]))
    assert dict(delta.entries()) == {bytes([n]): hashes[n] for n in range(256)}


def test_default_config_declares_the_three_shipped_jobs() -> None:
    settings = load_settings(CONFIG, env={})
    jobs = jobs_of(settings)
    assert list(jobs) == ["products", "ports", "vessels"]
    assert jobs["ports"].topic == "offload.reference.ports"
    assert jobs["ports"].transactional_id == "offload.reference.ports"
    assert trigger_of(jobs["vessels"]) is not None and trigger_of(jobs["products"]) is not None


def test_job_declaration_errors_name_the_key() -> None:
    job = '{"x": {"format": "csv", "keys": ["a"], "fields": {"a": "int"}}}'
    env = {"OFFLOAD__REFERENCE__JOBS": job}
    with pytest.raises(ConfigError) as caught:
        load_settings(CONFIG, env=env)
    assert "key 'reference.jobs.x': Value error, give either source, or directory and glob" in str(
        caught.value
    )
    settings = load_settings(CONFIG, env={})
    with pytest.raises(JobConfigError) as unknown:
        select_jobs(settings, ["nope"])
    assert str(unknown.value) == (
        "config key reference.jobs.nope: no such job (declared: products, ports, vessels)"
    )


def test_missing_source_and_empty_drop_folder(tmp_path: Path) -> None:
    job = {
        "format": "csv",
        "directory": str(tmp_path),
        "glob": "*.csv",
        "keys": ["a"],
        "fields": {"a": "int"},
        "cron": "0 61 * * *",
    }
    settings = load_settings(CONFIG, env={"OFFLOAD__REFERENCE__JOBS": json.dumps({"drop": job})})
    drop = jobs_of(settings)["drop"]
    with pytest.raises(SourceMissing) as caught:
        resolve_source(drop)
    assert str(caught.value) == f"reference job drop: no extract at {tmp_path / '*.csv'}"
    with pytest.raises(JobConfigError) as cron:
        trigger_of(drop)
    assert str(cron.value).startswith(
        "config key reference.jobs.drop.cron: '0 61 * * *' is not valid"
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.binary(min_size=7, max_size=9),
            st.binary(min_size=200, max_size=600),
            st.sampled_from([b"", b"\0", bytes(8), bytes(16), b"\xff" * 9]),
        ),
        max_size=30,
    )
)
def test_value_hashes_of_a_batch_are_the_plain_hash_of_each_value(values: list[bytes]) -> None:
    """The numpy path hashes every value of a batch at once; each value's hash is the plain
    Python function's, whatever else is in the batch (so the plain and bulk load paths, and
    the topic rebuild, keep the same state)."""
    hashes = value_hashes(values)
    assert hashes == [plain_value_hash(v) for v in values]
    assert all(-(2**63) <= h < 2**63 for h in hashes)
    assert hashes == [value_hash(v) for v in values]


def test_value_hashes_tell_padding_length_and_word_order_apart() -> None:
    """Values that differ only by trailing zero bytes, by their words' order or by one bit
    hash differently (the zero padding of the last word and the position of each word are
    mixed in)."""
    word_a, word_b = b"ABCDEFGH", b"IJKLMNOP"
    values = [b"", b"\0", bytes(7), bytes(8), bytes(9), word_a + word_b, word_b + word_a]
    values += [bytes([1 << bit]) + bytes(15) for bit in range(8)]
    values += [bytes(15) + bytes([1 << bit]) for bit in range(8)]
    assert len(set(value_hashes(values))) == len(values)
