#!/usr/bin/env python3
"""dmpipe report: a self-contained HTML report (index.html with PNG figures
beside it, no external URLs) from the outputs of a dmpipe run.

`dmpipe report` runs this program twice, on rank 0:
  --discover  find the run's outputs by content (report_find.py) and write
              the plan, STAGING/data/plan.json, listing the histograms the C
              side fills (one dmpipe-hist file per channel, in parallel);
  --render    draw the figures (report_plots.py, matplotlib) and write the
              page (report_page.py), then move STAGING into place as OUT.
Nothing appears under OUT until the whole report is written; an earlier
report there is replaced only then.

Exit codes: 0 ok, 1 failure (message on stderr), 3 a Python package is
missing (the message names the Debian package).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

NEEDED = [("numpy", "python3-numpy"), ("h5py", "python3-h5py"),
          ("matplotlib", "python3-matplotlib"), ("yaml", "python3-yaml")]


def check_imports():
    missing = []
    for mod, pkg in NEEDED:
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    if missing:
        sys.stderr.write(f"dmpipe report: {sys.executable} lacks {', '.join(missing)} "
                         f"(Debian: apt-get install {' '.join(missing)}; or pass --python)\n")
        sys.exit(3)


def discover(args):
    import report_find
    staging = args.staging
    if os.path.exists(staging):
        shutil.rmtree(staging)
    os.makedirs(os.path.join(staging, "data"))
    with open(os.path.join(staging, report_find.REPORT_MARK), "w") as f:
        f.write("written by dmpipe report; run folders scanned later skip this folder\n")
    plan = report_find.plan(args.input, args.out, staging)
    tmp = os.path.join(staging, "data", "plan.json.tmp")
    with open(tmp, "w") as f:
        json.dump(plan, f, indent=1)
    os.replace(tmp, os.path.join(staging, "data", "plan.json"))
    n = len(plan["channels"])
    print(f"report: {plan['workdir']}: {n} channel(s), {len(plan['cutflows'])} cutflow(s), "
          f"{len(plan['metrics'])} metrics, {len(plan['bumphunts'])} bump hunt(s)")


def render(args):
    staging = args.staging
    with open(os.path.join(staging, "data", "plan.json")) as f:
        plan = json.load(f)
    errs_path = os.path.join(staging, "data", "hist_errors.json")
    if os.path.exists(errs_path):
        with open(errs_path) as f:
            plan["hist_errors"] = json.load(f)
    else:
        plan["hist_errors"] = {}
    # matplotlib caches its font list under MPLCONFIGDIR (default ~/.config
    # or ~/.cache); where none is set and home is not writable, a private
    # temporary one (rebuilt each run, a second or two).
    cfg = None
    if not os.environ.get("MPLCONFIGDIR"):
        home = os.path.expanduser("~")
        if not (os.path.isdir(home) and os.access(home, os.W_OK)):
            cfg = tempfile.mkdtemp(prefix="dmpipe-report-mpl-")
            os.environ["MPLCONFIGDIR"] = cfg
    try:
        import report_page
        report_page.write(plan, staging, roc_max=args.roc_max_events)
    finally:
        if cfg:
            shutil.rmtree(cfg, ignore_errors=True)
    out = plan["out"]
    # The data folder keeps the histograms (for restyling); the plan has
    # absolute paths of this machine, so it is dropped.
    os.remove(os.path.join(staging, "data", "plan.json"))
    old = None
    if os.path.exists(out):
        old = out.rstrip("/") + ".old"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.rename(out, old)
    os.rename(staging, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    print(f"report: wrote {os.path.join(out, 'index.html')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--discover", action="store_true")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--in", dest="input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--staging", required=True)
    ap.add_argument("--roc-max-events", type=int, default=20_000_000)
    args = ap.parse_args()
    check_imports()
    try:
        if args.discover:
            if not args.input:
                raise SystemExit("dmpipe report: --in is required")
            discover(args)
        elif args.render:
            render(args)
        else:
            raise SystemExit("dmpipe report: give --discover or --render")
    except SystemExit:
        raise
    except Exception as e:  # a bug or an unreadable file: say which, fail cleanly
        import traceback
        traceback.print_exc()
        raise SystemExit(f"dmpipe report: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
