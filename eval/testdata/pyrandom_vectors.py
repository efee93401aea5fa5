"""Prints the vectors eval/pyrandom_test.go checks: CPython's random.Random
outputs for several seeds (python3 testdata/pyrandom_vectors.py > testdata/pyrandom_vectors.json)."""
import json
import random

rows = []
for seed in [0, 1, 42, 12345, 2**32 + 7, -3]:
    r = random.Random(seed)
    row = {"seed": seed, "getrandbits32": [r.getrandbits(32) for _ in range(5)]}
    row["random"] = [repr(r.random()) for _ in range(3)]
    row["randbelow"] = {str(n): [r._randbelow(n) for _ in range(5)] for n in [1, 2, 3, 10, 1000, 2**31 + 11]}
    row["shuffle"] = {}
    for n in [1, 2, 10, 100, 1172]:
        x = list(range(n))
        r.shuffle(x)
        row["shuffle"][str(n)] = x
    row["sample"] = []
    for n, k in [(5, 5), (10, 3), (21, 20), (30, 25), (100, 5), (1000, 6), (7473, 5), (7473, 25), (300, 26)]:
        row["sample"].append({"n": n, "k": k, "idx": r.sample(range(n), k)})
    rows.append(row)

# The harness's pattern: Random(42).shuffle(docs) then one sample per doc
# from the same generator; and the contamination tool's random.seed(0) shuffle.
r = random.Random(42)
docs = list(range(1319))
r.shuffle(docs)
shots = [r.sample(range(7473), 5) for _ in range(20)]
random.seed(0)
c = list(range(817))
random.shuffle(c)
print(json.dumps({"seeds": rows, "harness": {"docs": docs, "shots": shots}, "contamination_seed0_817": c[:100]}))
