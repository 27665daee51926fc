"""`python -m distill.data list`: which files of the data directory are present, missing or altered.

    python -m distill.data list [--only gsm8k,bbh] [--dir DIR]

Every file the project reads has a recorded public source and sha256 (`known_files.tsv`); this
checks the data directory (`--dir`, else `$COT_DATA_DIR`) against them, so a user sees at once what
to fetch and where from. Exit status 1 when anything is missing or altered.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from collections.abc import Sequence

from distill.data import data_dir


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m distill.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="present / missing / altered, per file")
    listing.add_argument("--only", help="comma-separated top-level folders (gsm8k, bbh, tokenizers, ...)")
    listing.add_argument("--dir", help=f"the data directory (default: ${data_dir.ENV_VAR})")
    listing.add_argument("--all", action="store_true", help="also list the files that are present")
    return parser.parse_args(argv)


def selected(only: str | None) -> list[str]:
    files = sorted(data_dir.KNOWN_FILES)
    if not only:
        return files
    folders = {f.strip().rstrip("/") for f in only.split(",") if f.strip()}
    unknown = folders - {f.split("/")[0] for f in files}
    if unknown:
        raise SystemExit(f"--only: no known files under {sorted(unknown)}")
    return [f for f in files if f.split("/")[0] in folders]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        root = os.path.abspath(args.dir) if args.dir else data_dir.data_dir()
    except data_dir.DataFileError as error:
        print(error, file=sys.stderr)
        return 2
    counts: collections.Counter[str] = collections.Counter()
    for relative in selected(args.only):
        state = data_dir.status(relative, root)
        counts[state] += 1
        if state != "present" or args.all:
            print(f"{state:8} {relative}  <- {data_dir.KNOWN_FILES[relative][1]}")
    print(f"{root}: {counts['present']} present, {counts['missing']} missing, {counts['altered']} altered")
    return 0 if counts["missing"] == counts["altered"] == 0 else 1
