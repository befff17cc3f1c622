"""User CPU time of one call for the bench scripts run from bench/: the median of reps calls after a warm-up
call, in ms (resource.getrusage of the process, so helper threads count)."""
import resource

import numpy as np


def user_ms(f, reps):
    f()
    ts = []
    for _ in range(reps):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        f()
        ts.append(resource.getrusage(resource.RUSAGE_SELF).ru_utime - r0.ru_utime)
    return 1e3 * float(np.median(ts))
