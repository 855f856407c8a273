"""Relative errors of the OPE estimators on the Open Bandit Dataset: BTS's click rate from random logs.

Reads ``$OFFERLOOP_OBD_DIR`` (default: the sample in ``tests/data/obd``, campaign "men"
only) and, for each campaign found, estimates the Bernoulli Thompson sampling policy's
click rate from the uniform-random policy's logs with IPS, SNIPS, DM and DR. Each
estimate is compared with the click rate observed in the BTS logs; see
:mod:`engine.obd` for how the BTS action distribution is obtained.

Usage::

    OFFERLOOP_OBD_DIR=/path/to/obd python benchmarks/ope_obd.py [--campaign all] [--json]
"""

from __future__ import annotations

import argparse
import json
import warnings

from engine.obd import default_obd_dir, evaluate_obd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", action="append", help="campaign(s) to evaluate; default every one found")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    directory = default_obd_dir()
    campaigns = args.campaign or sorted(
        path.name for path in (directory / "random").iterdir() if path.is_dir() and (directory / "bts" / path.name).is_dir()
    )
    reports = {}
    for campaign in campaigns:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reports[campaign] = evaluate_obd(directory, campaign=campaign)
        for item in caught:
            print(f"warning ({campaign}): {item.message}")
    if args.json:
        print(json.dumps({"obd_dir": str(directory), "campaigns": {k: r.to_dict() for k, r in reports.items()}}, indent=2))
        return 0
    print(f"Open Bandit Dataset at {directory}: BTS click rate estimated from uniform-random logs")
    print(f"{'campaign':<10}{'observed':>10}{'estimator':>11}{'estimate':>10}{'95% CI':>22}{'rel. error':>12}")
    for campaign, report in reports.items():
        truth = report.ground_truth
        for name, estimate in report.estimates.items():
            interval = f"[{estimate.ci_low:.5f}, {estimate.ci_high:.5f}]"
            print(
                f"{campaign:<10}{truth.value:>10.5f}{name:>11}{estimate.value:>10.5f}{interval:>22}"
                f"{report.relative_errors[name]:>12.1%}"
            )
        print(f"{'':<10}observed interval [{truth.ci_low:.5f}, {truth.ci_high:.5f}] over {report.n_bts} BTS impressions; "
              f"effective sample size of the weights {report.effective_sample_size:.0f} of {report.n_random}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
