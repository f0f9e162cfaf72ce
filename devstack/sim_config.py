"""The simulator's knobs (devstack/sim.py): AWS's unkindness by default, plain moto when off.

docs/local-stack.md has the table of knobs, their environment variables, defaults and meaning.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, fields
from typing import Any

MODES = ("aws", "off")
AWS_DEFAULTS: dict[str, float] = {
    "gsi_lag_ms": 250.0, "lag_spike": 0.03, "lag_spike_ms": 10_000.0, "stale_read": 1 / 3,
    "tx_conflict": 0.2, "tx_window_ms": 50.0, "write_conflict": 0.2, "write_window_ms": 20.0,
    "throttle": 0.01, "lost_response": 0.01, "ttl_delay_s": 10.0,
}
OFF_VALUES: dict[str, float] = {
    "gsi_lag_ms": 0.0, "lag_spike": 0.0, "lag_spike_ms": 0.0, "stale_read": 0.0,
    "tx_conflict": 0.0, "tx_window_ms": 50.0, "write_conflict": 0.0, "write_window_ms": 20.0,
    "throttle": 0.0, "lost_response": 0.0, "ttl_delay_s": math.inf,
}
RATES = ("lag_spike", "stale_read", "tx_conflict", "write_conflict", "throttle", "lost_response")


@dataclass(frozen=True)
class SimConfig:
    mode: str = "off"
    gsi_lag_ms: float = 0.0
    lag_spike: float = 0.0
    lag_spike_ms: float = 0.0
    stale_read: float = 0.0
    tx_conflict: float = 0.0
    tx_window_ms: float = 50.0
    write_conflict: float = 0.0
    write_window_ms: float = 20.0
    throttle: float = 0.0
    lost_response: float = 0.0
    ttl_delay_s: float = math.inf
    seed: int = 0

    @classmethod
    def build(cls, mode: str = "off", seed: int | None = None, **knobs: Any) -> SimConfig:
        """``mode`` "aws" starts from AWS_DEFAULTS, "off" from OFF_VALUES; knobs override either."""
        if mode not in MODES:
            raise ValueError(f"sim mode must be one of {MODES}, not {mode!r}")
        unknown = set(knobs) - set(AWS_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown sim knobs: {sorted(unknown)}")
        values = dict(AWS_DEFAULTS if mode == "aws" else OFF_VALUES)
        values.update({k: float(v) for k, v in knobs.items() if v is not None})
        for rate in RATES:
            if not 0.0 <= values[rate] <= 1.0:
                raise ValueError(f"{rate} must be between 0 and 1")
        for name, value in values.items():
            if math.isnan(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
        return cls(mode=mode, seed=random.randrange(2**31) if seed is None else int(seed), **values)

    @classmethod
    def from_environment(cls, default_mode: str = "off") -> SimConfig:
        """``KEFU_SIM`` (aws|off), ``KEFU_SIM_SEED`` and one ``KEFU_SIM_<KNOB>`` per knob
        (``KEFU_SIM_GSI_LAG_MS``, ``KEFU_SIM_TTL_DELAY_S``...; ``inf`` where infinite is allowed)."""
        env = os.environ
        knobs = {key: env.get(f"KEFU_SIM_{key.upper()}") or None for key in AWS_DEFAULTS}
        seed = env.get("KEFU_SIM_SEED") or None
        return cls.build((env.get("KEFU_SIM") or default_mode).strip().lower(),
                         seed=None if seed is None else int(seed), **knobs)

    @property
    def lags(self) -> bool:
        return self.gsi_lag_ms > 0 or (self.lag_spike > 0 and self.lag_spike_ms > 0)

    def describe(self) -> str:
        """The banner's ``sim`` line (docs/local-stack.md explains each part)."""
        if self.mode == "off" and self == SimConfig.build("off", seed=self.seed):
            return f"off (plain moto, seed {self.seed})"
        spike = (f", {self.lag_spike:.0%} of index reads {self.lag_spike_ms / 5000:g}-{self.lag_spike_ms / 1000:g} s"
                 if self.lag_spike and self.lag_spike_ms else "")
        ttl = "never" if self.ttl_delay_s == math.inf else f"0-{self.ttl_delay_s:g} s after expiry"
        return (f"{self.mode} (index lag 0-{self.gsi_lag_ms:g} ms per write{spike}; "
                f"stale reads {self.stale_read:.0%}; "
                f"tx conflicts {self.tx_conflict:.0%} within {self.tx_window_ms:g} ms, "
                f"with plain writes {self.write_conflict:.0%} within {self.write_window_ms:g} ms; "
                f"throttled {self.throttle:.0%}; lost answers {self.lost_response:.0%}; "
                f"TTL deletes {ttl}; seed {self.seed})")


assert {f.name for f in fields(SimConfig)} - {"mode", "seed"} == set(AWS_DEFAULTS) == set(OFF_VALUES)
