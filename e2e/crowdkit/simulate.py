"""A simulated crowd: good, biased and spamming volunteers labelling tasks of 4 classes.

Writes `task,worker,label` (the answers) and `task,label` (the truth) as CSV.
"""

import argparse
import csv

import numpy as np


def simulate(tasks: int, workers: int, answers: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, size=tasks)
    kind = rng.choice(["good", "biased", "spam"], size=workers, p=[0.6, 0.25, 0.15])
    skill = rng.uniform(0.65, 0.95, size=workers)
    per_task = max(1, answers // tasks)
    rows = []
    for t in range(tasks):
        for w in rng.choice(workers, size=min(per_task, workers), replace=False):
            true = truth[t]
            if kind[w] == "good":
                label = true if rng.random() < skill[w] else rng.integers(0, classes)
            elif kind[w] == "biased":
                # Right on some classes; says class 0 for the others.
                label = true if true % 2 == 0 and rng.random() < skill[w] else 0
            else:
                label = rng.integers(0, classes)
            rows.append((t, int(w), int(label)))
    return truth, rows


def write(path_answers: str, path_truth: str, truth, rows):
    with open(path_answers, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["task", "worker", "label"])
        for t, w, label in rows:
            out.writerow([f"t{t}", f"w{w}", f"c{label}"])
    with open(path_truth, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["task", "label"])
        for t, label in enumerate(truth):
            out.writerow([f"t{t}", f"c{label}"])


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--workers", type=int, default=200)
    p.add_argument("--answers", type=int, default=10000)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("answers_csv")
    p.add_argument("truth_csv")
    a = p.parse_args()
    truth, rows = simulate(a.tasks, a.workers, a.answers, a.classes, a.seed)
    write(a.answers_csv, a.truth_csv, truth, rows)
