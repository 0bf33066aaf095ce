"""Each user's transcode slots with several app servers: counted across them in Redis
(TRANSCODE_SLOTS_URL), renewed while held, back when a server dies, and each machine's
own again when Redis cannot be reached. Two machines are two storages (each has its
own transcode folder, where the machine's flocks live) with the same Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from app.services.storage import LocalStorage
from app.services.transcode import cache
from app.services.transcode.cache import Limits, TranscodeBusy, take_slots
from tests.helpers import IN_CI, redis_test_url

REDIS_URL = redis_test_url("TEST_REDIS_URL", 15)


@pytest.fixture
def shared() -> Iterator[str]:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    for key in client.scan_iter("musiccloud:transcode-slot:*"):
        client.delete(key)
    yield REDIS_URL
    for key in client.scan_iter("musiccloud:transcode-slot:*"):
        client.delete(key)


@pytest.fixture
def machines(tmp_path) -> tuple[LocalStorage, LocalStorage]:
    return LocalStorage(tmp_path / "one"), LocalStorage(tmp_path / "two")


def test_a_users_transcodes_are_counted_across_servers(shared, machines):
    one, two = machines
    limits = Limits(max_jobs=4, max_per_user=1, shared_url=shared)
    held = take_slots(one, limits, user_id=7)
    with pytest.raises(TranscodeBusy):
        take_slots(two, limits, user_id=7)  # another server, the same listener
    other = take_slots(two, limits, user_id=8)  # another listener: free
    other.release()
    held.release()
    take_slots(two, limits, user_id=7).release()  # given back at once


def test_a_held_slot_is_renewed_and_one_of_a_dead_server_comes_back(shared, machines, monkeypatch):
    one, two = machines
    monkeypatch.setattr(cache, "SLOT_LEASE_SECONDS", 1)
    limits = Limits(max_jobs=4, max_per_user=1, shared_url=shared)
    held = take_slots(one, limits, user_id=7)
    time.sleep(2.5)  # past its lease: renewed meanwhile
    with pytest.raises(TranscodeBusy):
        take_slots(two, limits, user_id=7)
    held._released.set()  # the server dies: nothing renews the lease any more
    time.sleep(1.5)
    take_slots(two, limits, user_id=7).release()


def test_without_redis_each_machine_counts_its_own(machines, caplog):
    one, two = machines
    limits = Limits(max_jobs=4, max_per_user=1, shared_url="redis://127.0.0.1:1/0")
    held = take_slots(one, limits, user_id=7)
    assert "Redis cannot be reached" in caplog.text
    with pytest.raises(TranscodeBusy):
        take_slots(one, limits, user_id=7)  # this machine's own flock
    take_slots(two, limits, user_id=7).release()  # the other machine knows nothing of it
    held.release()
