"""argparse types that check a value as it is read: whole numbers and finite numbers in a range, GPU lists."""
import argparse
import math
from typing import Callable, Optional


def int_in(low: int, high: Optional[int] = None) -> Callable[[str], int]:
    """argparse type of a whole number from `low` to `high` (no upper end when None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            value = None
        if value is None or value < low or (high is not None and value > high):
            bounds = f'from {low} to {high}' if high is not None else f'of at least {low}'
            raise argparse.ArgumentTypeError(f'{text!r} is not a whole number {bounds}')
        return value
    parse.__name__ = 'whole number'
    return parse


def float_in(low: float, high: Optional[float] = None, high_included: bool = True,
             low_included: bool = True) -> Callable[[str], float]:
    """argparse type of a finite number from `low` to `high` (ends included unless said)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            value = math.nan
        below = value < low or (value == low and not low_included)
        above = high is not None and (value > high or (value == high and not high_included))
        if not math.isfinite(value) or below or above:
            lower = f'{"of at least" if low_included else "above"} {low}'
            upper = '' if high is None else f' and {"at most" if high_included else "below"} {high}'
            raise argparse.ArgumentTypeError(f'{text!r} is not a finite number {lower}{upper}')
        return value
    parse.__name__ = 'number'
    return parse


def gpu_list(text: str) -> str:
    """argparse type of --gpu_ids: GPU numbers separated by commas, or -1 for the CPU."""
    try:
        ids = [int(part) for part in str(text).split(',') if part.strip()]
    except ValueError:
        ids = []
    if not ids or (ids[0] < 0 and len(ids) > 1) or any(i < -1 for i in ids):
        raise argparse.ArgumentTypeError(f'{text!r} is not a list of GPU numbers such as 0 or 0,1 (-1 for the CPU)')
    return str(text)
