"""Compute threads that share the machine: as many as the CPUs this process may use (its affinity mask, a container's
CPU quota), and fewer while other work keeps some of those CPUs busy.

Each torch process starts one compute thread a core, and an OpenMP thread that waits spins for milliseconds: two
such processes on two cores spend most of their time spinning against each other (about 4x slower each than a fair
share). A passive wait would cost a run alone 10-25 % (measured), so instead a watcher thread measures, once a
second, how busy the other processes keep this process's CPUs, and the compute loops (`follow_fair_share()`, called
once a step) use the CPUs left: a run alone keeps all of them, two runs on two cores settle at one thread each.
OMP_NUM_THREADS, when set, fixes the count and turns the watcher off (torchrun sets it to 1 beside other ranks).
"""
import os
import threading
import time
from typing import Iterable, Iterator, List, NamedTuple, Optional, TypeVar

CGROUP = '/sys/fs/cgroup'
# The /proc/stat columns of a CPU's busy time: user, nice, system, irq, softirq, steal (not idle and iowait).
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
TICKS_PER_SECOND = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100
T = TypeVar('T')


def cgroup_cpu_quota(root: str = CGROUP) -> Optional[float]:
    """The CPUs' worth of time a container's quota allows (cgroup v2 cpu.max, v1 cfs_quota_us), None if unlimited."""
    for quota_file, period_file in (('cpu.max', None), ('cpu/cpu.cfs_quota_us', 'cpu/cpu.cfs_period_us')):
        try:
            with open(os.path.join(root, quota_file)) as f:
                fields = f.read().split()
            if period_file is not None:
                with open(os.path.join(root, period_file)) as f:
                    fields.append(f.read().strip())
            quota, period = fields[0], fields[1]
            if quota in ('max', '-1'):
                return None
            return int(quota) / int(period)
        except (OSError, ValueError, IndexError, ZeroDivisionError):
            continue
    return None


def allowed_cpus() -> List[int]:
    """The CPUs this process may run on (its affinity mask)."""
    if hasattr(os, 'sched_getaffinity'):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def usable_cpus(cgroup_root: str = CGROUP) -> int:
    """How many CPUs this process may keep busy: its affinity mask, capped by a container's CPU quota."""
    count = len(allowed_cpus())
    quota = cgroup_cpu_quota(cgroup_root)
    return count if quota is None else max(1, min(count, int(quota)))


def fair_threads(usable: int, cpus: int, others_busy: float) -> int:
    """Threads for the CPUs that other work leaves: `cpus` in the mask, `others_busy` of them kept busy by other
    processes (in CPUs), at most `usable`, at least one."""
    return max(1, min(usable, int(cpus - others_busy + 0.5)))


class CpuTimes(NamedTuple):
    seconds: float      # wall clock
    busy: int           # busy ticks of the CPUs in the mask, all processes
    own: int            # this process's ticks (all its threads)


def busy_ticks(stat_text: str, cpus: Iterable[int]) -> int:
    """The busy ticks of the given CPUs in the text of /proc/stat."""
    wanted, total = {f'cpu{i}' for i in cpus}, 0
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            total += sum(int(fields[1 + column]) for column in BUSY_COLUMNS if 1 + column < len(fields))
    return total


def own_ticks(self_stat_text: str) -> int:
    """utime + stime of /proc/self/stat (the fields after the command name, which may hold spaces)."""
    fields = self_stat_text.rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def read_cpu_times(cpus: Iterable[int]) -> CpuTimes:
    with open('/proc/stat') as stat, open('/proc/self/stat') as own:
        return CpuTimes(seconds=time.monotonic(), busy=busy_ticks(stat.read(), cpus), own=own_ticks(own.read()))


def others_busy(before: CpuTimes, after: CpuTimes) -> float:
    """How many CPUs other processes kept busy between two readings."""
    elapsed = after.seconds - before.seconds
    if elapsed <= 0:
        return 0.0
    return max(0.0, ((after.busy - before.busy) - (after.own - before.own)) / TICKS_PER_SECOND / elapsed)


class FairShare:
    """The watcher: a daemon thread that re-estimates the fair thread count every `interval` seconds (a change is
    taken when two estimates in a row agree); `wanted` is read by the compute loops."""

    def __init__(self, usable: int, interval: float = 1.0):
        self.usable, self.interval, self.cpus = usable, interval, allowed_cpus()
        self.wanted = usable
        threading.Thread(target=self._watch, name='fair-share', daemon=True).start()

    def _watch(self) -> None:
        before, last_estimate = read_cpu_times(self.cpus), self.usable
        while True:
            time.sleep(self.interval)
            after = read_cpu_times(self.cpus)
            estimate = fair_threads(self.usable, len(self.cpus), others_busy(before, after))
            if estimate == last_estimate:
                self.wanted = estimate
            before, last_estimate = after, estimate


_share: Optional[FairShare] = None


def share_cpus() -> None:
    """Set this process's compute threads from the CPUs it may use and start the watcher, unless OMP_NUM_THREADS
    fixes them. Called once by every command (util.errors.run_cli); a library user's process is left as it is."""
    global _share
    if _share is not None or os.environ.get('OMP_NUM_THREADS') or not os.path.exists('/proc/stat'):
        return
    import torch
    usable = usable_cpus()
    if torch.get_num_threads() != usable:  # OpenMP counts the affinity mask, not a container's quota
        torch.set_num_threads(usable)
    _share = FairShare(usable)


def follow_fair_share() -> None:
    """Use the watcher's thread count in the calling thread (OpenMP's count is each thread's own); a no-op without
    a watcher. Cheap: call it once a step of any long loop."""
    if _share is None:
        return
    import torch
    if torch.get_num_threads() != _share.wanted:
        torch.set_num_threads(_share.wanted)


def following_fair_share(items: Iterable[T]) -> Iterator[T]:
    """`items`, following the fair share before each."""
    for item in items:
        follow_fair_share()
        yield item
