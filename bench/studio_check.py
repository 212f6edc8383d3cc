"""The studio's live check: how long validating workflows/ takes, as the modeler asks while editing.

    .venv/bin/python bench/studio_check.py [--runs N]

Method. In a fresh interpreter: "import" is the time to import engine.bundle (SpiffWorkflow, the XSD
validator built at import); "cold" the first `check_files` of workflows/ + forms/ (read into memory as
the modeler sends them: every .bpmn/.dmn, messages.json, vocabulary.json, the templates, every form);
"warm" the median and p95 of N further calls (what POST /studio/check costs per call, JSON aside);
"folder" the median of `load_bundle` on the folder itself (`recall validate`). Goal: warm well under a
second (`ok=1`: warm p95 below 1 s). The machine is a shared 2-core VM: compare figures of one run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    from engine.bundle import check_files, load_bundle
    imported = time.perf_counter() - started
    workflows, forms_dir = ROOT / "workflows", ROOT / "forms"
    files = {p.relative_to(workflows).as_posix(): p.read_text(encoding="utf-8")
             for p in sorted(workflows.rglob("*")) if p.is_file()}
    forms = {p.name: p.read_text(encoding="utf-8") for p in sorted(forms_dir.glob("*.json"))}
    started = time.perf_counter()
    bundle = check_files(files, forms=forms)
    cold = time.perf_counter() - started
    if not bundle.ok:
        sys.exit("workflows/ does not check clean:\n" + "\n".join(str(d) for d in bundle.diagnostics))
    warm = []
    for _ in range(args.runs):
        started = time.perf_counter()
        check_files(files, forms=forms)
        warm.append(time.perf_counter() - started)
    folder = []
    for _ in range(max(3, args.runs // 4)):
        started = time.perf_counter()
        load_bundle([workflows], forms_dir=forms_dir)
        folder.append(time.perf_counter() - started)
    warm.sort()
    p95 = warm[min(len(warm) - 1, int(0.95 * len(warm)))]
    size = sum(len(t.encode()) for t in files.values()) + sum(len(t.encode()) for t in forms.values())
    print(f"files={len(files)} forms={len(forms)} bytes={size} diagnostics={len(bundle.all_diagnostics)}")
    print(f"import_s={imported:.3f} cold_s={cold:.3f} warm_median_s={statistics.median(warm):.3f} "
          f"warm_p95_s={p95:.3f} folder_median_s={statistics.median(folder):.3f} ok={int(p95 < 1.0)}")


if __name__ == "__main__":
    main()
