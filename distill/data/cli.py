"""`python -m distill.data`: fetch the data directory's files, or check which are present, missing or altered.

    python -m distill.data download [--only gsm8k,bbh] [--out DIR] [--mirror URL]
    python -m distill.data list [--only gsm8k,bbh] [--dir DIR] [--all]

Every file the project reads has a recorded public source, pinned URL and sha256
(`known_files.tsv`). `download` fetches the missing or altered ones and verifies each; `list`
checks a directory against the record, so a user sees at once what to fetch and where from.
Exit status 1 when a file failed to download (`download`) or is missing or altered (`list`).

The data directory, first match wins: `--out` / `--dir`; $COT_DATA_DIR (`make` sets it to
../shared/data when that folder exists); the user's cache, $XDG_CACHE_HOME/cot-specialize/data
(default ~/.cache/cot-specialize/data), which `download` creates; `list` and every other command
use the cache directory only once it exists.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from collections.abc import Sequence

from distill.data import data_dir, download


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m distill.data",
        description=__doc__.split("\n")[0],
        epilog=__doc__[__doc__.index("The data directory") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    only = "comma-separated top-level folders (gsm8k, bbh, tokenizers, ...); default: all"
    fetching = commands.add_parser(
        "download",
        help="fetch missing or altered files from their pinned sources, verified",
        epilog=__doc__[__doc__.index("The data directory") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetching.add_argument("--only", help=only)
    fetching.add_argument(
        "--out", help=f"the data directory to fill (default: ${data_dir.ENV_VAR}, else {data_dir.user_data_dir()})"
    )
    fetching.add_argument(
        "--mirror", help="base URL laid out like the data directory (e.g. http://host/data/), instead of the sources"
    )
    fetching.add_argument("--attempts", type=int, default=download.Settings.attempts, help="tries per file")
    fetching.add_argument(
        "--backoff", type=float, default=download.Settings.backoff_s, help="seconds before the first retry (doubling)"
    )
    listing = commands.add_parser("list", help="present / missing / altered, per file")
    listing.add_argument("--only", help=only)
    listing.add_argument("--dir", help=f"the data directory (default: ${data_dir.ENV_VAR}, else the user's cache)")
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


def list_files(args: argparse.Namespace) -> int:
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
            print(f"{state:8} {relative}  <- {data_dir.KNOWN_FILES[relative].source}")
    print(f"{root}: {counts['present']} present, {counts['missing']} missing, {counts['altered']} altered")
    return 0 if counts["missing"] == counts["altered"] == 0 else 1


def download_files(args: argparse.Namespace) -> int:
    root = os.path.abspath(args.out) if args.out else data_dir.download_dir()
    files = selected(args.only)
    print(f"{root}: {len(files)} files from {download.shown(args.mirror) if args.mirror else 'their public sources'}")
    settings = download.Settings(attempts=max(args.attempts, 1), backoff_s=max(args.backoff, 0.0))
    return download.report(download.download(files, root, args.mirror, settings), root)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return download_files(args) if args.command == "download" else list_files(args)
