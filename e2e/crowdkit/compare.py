"""Tessera's Dawid-Skene against crowd-kit's on the same simulated answers.

Prints one JSON object: both fits' times and peak memory, how often they agree, and each
method's accuracy (with plain majority vote for reference). With --check, fails unless they
agree on at least --agree of the tasks and Dawid-Skene beats majority vote.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def read_labels(path):
    with open(path, newline="") as f:
        return {row["task"]: row["label"] for row in csv.DictReader(f)}


def majority(path):
    votes = defaultdict(Counter)
    order = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            votes[row["task"]][row["label"]] += 1
            order[row["task"]].setdefault(row["label"], len(order[row["task"]]))
    return {
        t: max(c, key=lambda label: (c[label], -order[t][label])) for t, c in votes.items()
    }


def accuracy(labels, truth):
    return sum(labels.get(t) == v for t, v in truth.items()) / len(truth)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tessera", required=True, help="the tessera binary")
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--workers", type=int, default=200)
    p.add_argument("--answers", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check", action="store_true")
    p.add_argument("--agree", type=float, default=0.99)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        answers, truth_csv = os.path.join(d, "answers.csv"), os.path.join(d, "truth.csv")
        subprocess.run(
            [sys.executable, os.path.join(HERE, "simulate.py"), "--tasks", str(a.tasks),
             "--workers", str(a.workers), "--answers", str(a.answers), "--seed", str(a.seed),
             answers, truth_csv],
            check=True,
        )
        ours_csv, theirs_csv = os.path.join(d, "ours.csv"), os.path.join(d, "theirs.csv")
        ours = subprocess.run(
            [a.tessera, "dawid-skene", answers, ours_csv],
            check=True, capture_output=True, text=True,
        )
        theirs = subprocess.run(
            [sys.executable, os.path.join(HERE, "crowdkit_fit.py"), answers, theirs_csv],
            check=True, capture_output=True, text=True,
        )
        ours_stats = json.loads(ours.stderr.strip().splitlines()[-1])
        theirs_stats = json.loads(theirs.stdout.strip().splitlines()[-1])
        truth = read_labels(truth_csv)
        mine, crowdkit, mv = read_labels(ours_csv), read_labels(theirs_csv), majority(answers)
    agree = sum(mine.get(t) == crowdkit.get(t) for t in crowdkit) / len(crowdkit)
    report = {
        "answers": ours_stats["answers"], "tasks": ours_stats["tasks"],
        "workers": ours_stats["workers"],
        "tessera": {"fit_seconds": ours_stats["fit_seconds"], "peak_kb": ours_stats["peak_kb"],
                    "iterations": ours_stats["iterations"], "accuracy": accuracy(mine, truth)},
        "crowdkit": {"fit_seconds": theirs_stats["fit_seconds"],
                     "peak_kb": theirs_stats["peak_kb"], "accuracy": accuracy(crowdkit, truth)},
        "majority_accuracy": accuracy(mv, truth),
        "agreement": agree,
        "speedup": theirs_stats["fit_seconds"] / max(ours_stats["fit_seconds"], 1e-9),
    }
    print(json.dumps(report, indent=2))
    if a.check:
        assert agree >= a.agree, f"agreement {agree:.4f} below {a.agree}"
        assert report["tessera"]["accuracy"] > report["majority_accuracy"], report


if __name__ == "__main__":
    main()
