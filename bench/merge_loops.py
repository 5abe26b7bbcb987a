"""One loop's figures from several runs of it (`tessera-bench loop` JSON, one per argument).

Counts add up; rates are over the runs' total time; CPU per pair is weighted by pairs; latency
percentiles are the pairs-weighted mean of the runs' (their histograms are not kept), and the
worst of the p99s is kept too.
"""

import json
import sys


def merge(runs):
    pairs = sum(r["pairs"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    weight = [r["pairs"] / max(pairs, 1) for r in runs]

    def mean(key):
        return sum(w * r[key] for w, r in zip(weight, runs))

    merged = {
        "volunteers": runs[0]["volunteers"],
        "seconds": seconds,
        "pairs": pairs,
        "pairs_per_s": pairs / seconds if seconds else 0.0,
        "runs": len(runs),
        "worst_pair_p99_ms": max(r["pair_p99_ms"] for r in runs),
    }
    for key in ("pair_p50_ms", "pair_p99_ms", "newtask_p50_ms", "newtask_p99_ms",
                "taskrun_p50_ms", "taskrun_p99_ms", "machine_busy"):
        merged[key] = mean(key)
    for key in ("errors", "surplus", "empty"):
        merged[key] = sum(r[key] for r in runs)
    merged["server_max_rss_mb"] = max(r["server_max_rss_mb"] for r in runs)
    merged["cpu_us_per_pair"] = {
        k: sum(w * r["cpu_us_per_pair"][k] for w, r in zip(weight, runs))
        for k in runs[0]["cpu_us_per_pair"]
    }
    return merged


if __name__ == "__main__":
    print(json.dumps(merge([json.loads(a) for a in sys.argv[1:]])))
