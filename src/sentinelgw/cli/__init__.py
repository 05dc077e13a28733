"""Command-line interface: one module per command or group; each binds flags and calls the core.

A command allocates most of its objects while it starts (click, botocore and the service models
it loads) and keeps them to the end. With CPython's default thresholds (700, 10, 10) the cyclic
collector scans those long-lived objects again and again while they are made: about a tenth of
the CPU of a ``sentinel exec``. A command collects cycles after 50,000 allocations instead
(the same objects are freed by reference counting either way; only cyclic garbage waits).
"""

import gc

GC_THRESHOLDS = (50_000, 50, 100)
gc.set_threshold(*GC_THRESHOLDS)
