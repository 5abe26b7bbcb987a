"""crowd-kit's DawidSkene on `task,worker,label` CSV; writes `task,label`, reports JSON."""

import json
import resource
import sys
import time

import pandas as pd
from crowdkit.aggregation import DawidSkene

answers, output = sys.argv[1], sys.argv[2]
df = pd.read_csv(answers, dtype=str)
started = time.perf_counter()
labels = DawidSkene(n_iter=100).fit_predict(df)
seconds = time.perf_counter() - started
labels.rename("label").rename_axis("task").reset_index().to_csv(output, index=False)
print(json.dumps({
    "fit_seconds": seconds,
    "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
