"""The test suite's fast hashes (NORA_PASSWORD_HASHING=fast) and the usual ones meet: a hash keeps its
parameters, so either setting verifies the other's, and a server with the usual ones replaces a fast
hash at the next login (``needs_rehash``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from admin import passwords


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    passwords.use_fast_hashing(False)


def test_a_fast_hash_is_verified_and_replaced_by_the_usual_setting(restored: None) -> None:
    passwords.use_fast_hashing(True)
    fast = passwords.hash_password_sync("kveldssol-over-fjorden")
    assert "$m=1024,t=1,p=1$" in fast and not passwords.needs_rehash(fast)
    passwords.use_fast_hashing(False)
    assert passwords._verify(fast, "kveldssol-over-fjorden") and not passwords._verify(fast, "kveldssol-over-fjorde")
    assert passwords.needs_rehash(fast)
    usual = passwords.hash_password_sync("kveldssol-over-fjorden")
    assert "$m=65536,t=3,p=4$" in usual and not passwords.needs_rehash(usual)
    assert not passwords._verify(None, "kveldssol-over-fjorden")  # an unknown user still costs a hash, and fails
