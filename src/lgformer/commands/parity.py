"""``lgformer parity FIXTURE.json``: compare with the released code's outputs."""

from __future__ import annotations

import argparse

HELP = "Check the model against a parity fixture of the released code."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fixture", help="fixture JSON; its .safetensors sibling holds the tensors")
    parser.add_argument(
        "--tolerance", type=float, default=None, help="max relative error (default 1e-4)"
    )


def run(args: argparse.Namespace) -> int:
    from lgformer.parity import TOLERANCE, check_fixture

    tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    errors = check_fixture(args.fixture)
    width = max(len(k) for k in errors)
    failed = 0
    for name, err in errors.items():
        ok = err <= tolerance
        failed += not ok
        print(f"{name:<{width}}  {err:.3e}  {'ok' if ok else 'FAIL'}")
    worst = max(errors.values())
    print(
        f"{len(errors)} tensors, worst relative error {worst:.3e}, tolerance {tolerance:.0e}: "
        f"{'PASS' if not failed else f'{failed} FAILED'}"
    )
    return 1 if failed else 0
