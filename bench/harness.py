"""What every benchmark here shares: the clock, interleaved rounds, and the header line that
says when, where and how a table was measured (docs/benchmarks.md keeps those lines)."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch


def clock(device: str) -> Callable[[], float]:
    """Wall time, except on a CPU with one torch thread: there the work runs on this thread,
    and its CPU time does not count the time other processes take the core away."""
    return time.thread_time if device == "cpu" and torch.get_num_threads() == 1 else time.perf_counter


def timed(fn: Callable[[], Any], device: str) -> float:
    now = clock(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = now()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return now() - start


def round_times(
    runners: dict[str, Callable[[], Any]], device: str, warmup: int, rounds: int, stat: str
) -> dict[str, float]:
    """Interleave the runners round by round so drift (other processes, clocks) hits all alike."""
    for _ in range(warmup):
        for fn in runners.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            samples[name].append(timed(fn, device))
    summary = min if stat == "min" else statistics.median
    return {name: summary(values) for name, values in samples.items()}


def header(args: argparse.Namespace) -> str:
    """Date, machine, device, dtype, torch, threads, clock and statistic of a run."""
    machine = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine()
    )
    timing = "thread CPU time" if clock(args.device) is time.thread_time else "wall time"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}, {args.device}, {args.dtype}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {timing}, "
        f"{args.stat} of {args.rounds} rounds\n"
    )
