"""Vision benchmark: detector latency, motion-gate savings, memory, counting accuracy.

    .venv/bin/python bench/vision_bench.py [--quick] [--json] [--figure cases.png] [--cases-only]

``--cases-only`` runs just the counting cases the rules rely on (an object of parts with
gaps counts once, two touching objects count twice, an object that backs off from the line
counts zero), over ``--case-seeds`` generated clips each, and ``--figure`` draws their
count accuracy per case.

Everything runs offline on generated clips and on photos shipped inside the
scikit-image and matplotlib wheels; figures are for the machine it runs on (a Pi 4/5
is several times slower than an x86 laptop core).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from inference import synthetic as syn  # noqa: E402
from inference.detector import Detector  # noqa: E402
from inference.pipeline import LineSpec, Pipeline, PipelineConfig  # noqa: E402
from inference.sources import open_source  # noqa: E402

LINE = LineSpec("belt", (320, 0, 320, 480))


def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook as cbook
    import skimage.data as skd

    out = {}
    for n in ("astronaut", "camera", "coffee", "coins", "rocket", "chelsea", "horse"):
        im = getattr(skd, n)()
        if im.dtype != np.uint8:  # horse is boolean
            im = (im.astype(np.float32) * 255).astype(np.uint8) if im.max() <= 1 else im.astype(np.uint8)
        out[n] = cv2.cvtColor(im, cv2.COLOR_RGB2BGR) if im.ndim == 3 else im
    out["grace_hopper"] = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(runs: int) -> list[dict]:
    img = photos()["astronaut"]
    rows = []
    for model in ("person", "face", "face-short"):
        for threads in (1, 2):
            det = Detector(model, threads=threads)
            w, h = det.input_size
            frame = cv2.resize(img, (w, h))
            for _ in range(5):
                det.detect(frame)
            full, invoke = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                det.detect(frame)
                full.append((time.perf_counter() - t0) * 1000)
                tensor = np.zeros(det.model.input.shape, np.float32)
                t0 = time.perf_counter()
                det.model.run(tensor)
                invoke.append((time.perf_counter() - t0) * 1000)
            rows.append({"model": model, "input": f"{w}x{h}", "threads": threads,
                         "median_ms": round(statistics.median(full), 2), "p95_ms": round(pct(full, 95), 2),
                         "invoke_median_ms": round(statistics.median(invoke), 2)})
    return rows


def mostly_still_clip(path: Path, n: int = 300) -> Path:
    """300 frames at 10 fps; people cross during 20% of them, the rest is an empty scene."""
    import skimage.data as skd

    sprites = syn.person_sprites([skd.astronaut(), skd.camera()])
    crossings = [syn.Crossing(20, 30, 130, "in", 0), syn.Crossing(200, 30, 170, "out", 1)]
    return syn.write_video(path, syn.render(crossings, sprites, n), fps=10)


def run(path: Path, cfg: PipelineConfig) -> tuple[dict, float]:
    pipe = Pipeline(cfg)
    src = open_source(str(path))
    src.open()
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    t0 = time.perf_counter()
    for f in frames:  # decode excluded: this measures the pipeline, not the video codec
        pipe.process(f.image, f.ts)
    return pipe.snapshot(), time.perf_counter() - t0


def gate(tmp: Path) -> list[dict]:
    clip = mostly_still_clip(tmp / "still80.avi")
    rows = []
    for model in ("person", "motion"):
        for gated in (True, False):
            snap, secs = run(clip, PipelineConfig(model=model, lines=[LINE], motion_gate=gated, threads=2))
            rows.append({"model": model, "motion_gate": gated, "frames": snap["frames"],
                         "detector_runs": snap["detector_runs"], "fps": round(snap["frames"] / secs, 1),
                         "in": snap["in"], "out": snap["out"]})
    return rows


RSS_SNIPPET = """
import sys
sys.path.insert(0, {root!r})
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
stage = {stage!r}
if stage in ('driver', 'pipeline'):
    import drivers.camera
if stage == 'pipeline':
    import numpy as np
    from inference.pipeline import Pipeline, PipelineConfig, LineSpec, ZoneSpec
    p = Pipeline(PipelineConfig(model='motion', people_model='person', lines=[LineSpec('l', (0.5, 0, 0.5, 1))]))
    f = np.zeros((720, 1280, 3), np.uint8)
    for i in range(20):
        f[:, (i * 40) % 1280:(i * 40) % 1280 + 100] = 200
        p.process(f, i * 0.2)
print(round(rss(), 1))
"""


def memory() -> dict:
    out = {}
    for stage in ("python", "driver", "pipeline"):
        code = RSS_SNIPPET.format(root=str(ROOT), stage=stage)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        out[stage] = float(res.stdout.strip().splitlines()[-1])
    return {"bare_python_mb": out["python"], "camera_driver_imported_mb": out["driver"],
            "pipeline_loaded_mb": out["pipeline"]}


def accuracy(tmp: Path, n_motion: int, n_person: int) -> dict:
    import skimage.data as skd

    rng = random.Random(7)
    people = syn.person_sprites([skd.astronaut(), skd.camera()])
    res = {}
    for mode, n, sprites in (("motion", n_motion, syn.product_sprites()), ("person", n_person, people)):
        exact = err = total = 0
        for k in range(n):
            crossings, start = [], 3
            for _ in range(rng.randint(2, 5)):
                frames = rng.randint(25, 45)
                y = rng.randint(20, 480 - sprites[0].shape[0] - 20)
                crossings.append(syn.Crossing(start, frames, y, rng.choice(["in", "out"]), rng.randint(0, 2)))
                start += frames + rng.randint(3, 15)
            clip = syn.write_video(tmp / f"{mode}{k}.avi", syn.render(crossings, sprites, start + 5, seed=k),
                                   fps=10)
            snap, _ = run(clip, PipelineConfig(model=mode, lines=[LINE]))
            want = syn.truth(crossings)
            exact += (snap["in"], snap["out"]) == (want["in"], want["out"])
            err += abs(snap["in"] - want["in"]) + abs(snap["out"] - want["out"])
            total += want["in"] + want["out"]
        res[mode] = {"clips": n, "exact_clips": exact, "crossings": total, "abs_count_error": err}
    ims = photos()
    truth = {"astronaut": 1, "camera": 1, "grace_hopper": 1, "coffee": 0, "coins": 0, "rocket": 0, "chelsea": 0,
             "horse": 0}
    for model in ("person", "face", "face-short"):
        det = Detector(model)
        right = sum(len(det.detect(ims[n])) == want for n, want in truth.items())
        res[f"images_{model}"] = f"{right}/{len(truth)}"
    return res


def counting_cases(tmp: Path, seeds: int) -> dict:
    """Per case: clips exact, and counted vs expected crossings summed over the seeds."""
    out = {}
    for case in syn.CASES:
        exact = got_total = want_total = err = 0
        for seed in range(seeds):
            crossings, sprites, n, want = syn.counting_case(case, seed)
            clip = syn.write_video(tmp / f"{case}{seed}.avi", syn.render(crossings, sprites, n, seed=seed), fps=10)
            snap, _ = run(clip, PipelineConfig(model="motion", lines=[LINE]))
            exact += (snap["in"], snap["out"]) == (want["in"], want["out"])
            err += abs(snap["in"] - want["in"]) + abs(snap["out"] - want["out"])
            got_total += snap["in"] + snap["out"]
            want_total += want["in"] + want["out"]
        out[case] = {"clips": seeds, "exact_clips": exact, "counted": got_total, "expected": want_total,
                     "abs_count_error": err}
    return out


def case_figure(cases: dict, path: Path) -> Path:
    """Bar chart: share of clips counted exactly per case, with counted/expected on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(cases)
    share = [100.0 * cases[c]["exact_clips"] / cases[c]["clips"] for c in names]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    bars = ax.bar(names, share, color=["#4c72b0", "#55a868", "#c44e52"][:len(names)])
    for b, c in zip(bars, names, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 2,
                f"{cases[c]['counted']} counted / {cases[c]['expected']} expected", ha="center", fontsize=8)
    ax.set_ylim(0, 115)
    ax.set_ylabel("clips counted exactly (%)")
    ax.set_title(f"Counting cases, motion model ({cases[names[0]]['clips']} generated clips each)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and clips")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cases-only", action="store_true", help="only the counting cases (composite, touching, backoff)")
    ap.add_argument("--case-seeds", type=int, default=None, help="generated clips per counting case (default 5, 2 "
                    "with --quick)")
    ap.add_argument("--figure", type=Path, default=None, help="write the counting-case accuracy figure (PNG) here")
    args = ap.parse_args()
    seeds = args.case_seeds or (2 if args.quick else 5)
    if args.cases_only:
        with tempfile.TemporaryDirectory() as d:
            cases = counting_cases(Path(d), seeds)
        if args.figure:
            case_figure(cases, args.figure)
        print(json.dumps({"counting_cases": cases}, indent=2) if args.json else
              "\n".join(f"{c}: {v['exact_clips']}/{v['clips']} clips exact, {v['counted']} counted of "
                        f"{v['expected']} expected" for c, v in cases.items()))
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result = {"counting_cases": counting_cases(tmp, seeds),
                  "latency": latency(20 if args.quick else 100), "gate": gate(tmp), "memory": memory(),
                  "accuracy": accuracy(tmp, 3 if args.quick else 8, 2 if args.quick else 5)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("Detector latency per frame (letterbox + invoke + decode), ms")
    print(f"{'model':<11}{'input':<9}{'thr':>4}{'median':>9}{'p95':>9}{'invoke':>9}")
    for r in result["latency"]:
        print(f"{r['model']:<11}{r['input']:<9}{r['threads']:>4}{r['median_ms']:>9}{r['p95_ms']:>9}"
              f"{r['invoke_median_ms']:>9}")
    print("\nPipeline fps on a 640x480 clip that is 80% still (300 frames, 2 threads)")
    print(f"{'model':<9}{'gate':<7}{'fps':>8}{'runs':>7}{'in':>4}{'out':>4}")
    for r in result["gate"]:
        print(f"{r['model']:<9}{'on' if r['motion_gate'] else 'off':<7}{r['fps']:>8}{r['detector_runs']:>7}"
              f"{r['in']:>4}{r['out']:>4}")
    m = result["memory"]
    print(f"\nResident memory (MB): bare python {m['bare_python_mb']}, camera driver imported "
          f"{m['camera_driver_imported_mb']}, pipeline loaded (motion + person, 720p frames) "
          f"{m['pipeline_loaded_mb']}")
    print("\nCounting accuracy")
    for k, v in result["accuracy"].items():
        print(f"  {k}: {v}")
    print("\nCounting cases (motion model)")
    for k, v in result["counting_cases"].items():
        print(f"  {k}: {v['exact_clips']}/{v['clips']} clips exact, {v['counted']} counted of {v['expected']} expected")
    if args.figure:
        case_figure(result["counting_cases"], args.figure)


if __name__ == "__main__":
    main()
