"""Concurrency tests race on the realistic backend: index lag and transaction conflicts as on AWS."""

import pytest


@pytest.fixture
def sim_default() -> str:
    return "aws"
