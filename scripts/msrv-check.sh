#!/usr/bin/env bash
# Checks that each workspace package's declared `rust-version` is true: not lower than the
# highest `rust-version` among the packages compiled to build it, read from `cargo metadata`.
#
#   scripts/msrv-check.sh
#
# Only one toolchain exists on our machines, so the minimum version cannot be checked by
# building with it; its dependencies declare theirs instead. For every workspace member the
# script walks the resolved dependency graph from that member along normal and build
# dependencies (a dependency's build script and proc macros are compiled too; dev-dependencies
# are not), transitively, for every target platform, once with the default features and once
# with all features, and fails when the declared rust-version is lower than the highest one
# found. Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo metadata --format-version 1 --locked >"$tmp/default.json"
cargo metadata --format-version 1 --locked --all-features >"$tmp/all.json"

python3 - "$tmp/default.json" "$tmp/all.json" <<'PYTHON'
import json
import sys


def version(v):
    """'1.88' or '1.87.0' -> (1, 88, 0)"""
    parts = [int(p) for p in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(v):
    return ".".join(str(p) for p in v)


def required(meta, member):
    """The highest rust-version among what `member` needs to build, and who declares it."""
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    seen, stack = set(), [member]
    while stack:
        for dep in nodes[stack.pop()]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            # None is a normal dependency; "dev" ones are only built for tests.
            if kinds & {None, "build"} and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    found = [
        (version(packages[p]["rust_version"]), packages[p]["name"], packages[p]["version"])
        for p in seen
        if packages[p].get("rust_version")
    ]
    return max(found, default=((0, 0, 0), "nothing", ""))


failed = False
runs = {"default features": json.load(open(sys.argv[1])), "all features": json.load(open(sys.argv[2]))}
first = next(iter(runs.values()))
for member in first["workspace_members"]:
    package = next(p for p in first["packages"] if p["id"] == member)
    declared = package.get("rust_version")
    if declared is None:
        print(f"{package['name']}: no rust-version declared")
        failed = True
        continue
    for label, meta in runs.items():
        need, name, ver = required(meta, member)
        ok = version(declared) >= need
        print(
            f"{package['name']} ({label}): declares {declared}, dependencies need "
            f"{show(need)} ({name} {ver}){'' if ok else '  <-- declared rust-version is too low'}"
        )
        failed |= not ok
sys.exit(1 if failed else 0)
PYTHON
