#!/usr/bin/env bash
# regions-bench.sh — the many-core measurement of a world cut into regions
# (issue 21): the demo's world of 100,000 bodies stepped by 1, 2, 4, 8 and
# 16 physics regions, each a process of its own, every count beside the
# single-process world of the same size in the same run (bench's world
# table: capacity ÷ N×1, each region's tick p50/p99, the border exchange,
# hand-overs). Meant for a machine with at least as many cores as the
# largest count plus three (ai, net and bench itself); on fewer it says so
# and runs anyway — the regions then share cores and the ratio falls.
#
#   scripts/regions-bench.sh                     # 1,2,4,8,16 regions, 100,000 bodies, 10 s each
#   REGIONS=1,2,4 BODIES=20000 DURATION=5s scripts/regions-bench.sh
#   scripts/regions-bench.sh --count 3           # more flags go to bench as they are
#
# The world is as wide as its bodies want (the demo's --width 0: 1,280 px
# per 10,000 bodies, the default world's density; 12,800 px for 100,000).
# Needs Go and /dev/shm room for every region's channel: each holds
# physics.MaxBodies bodies in its snapshot ring (≈ 17 MB), so 16 regions
# take ≈ 300 MB. The JSON report is written to $JSON (default
# regions-bench.json in the current directory).
set -euo pipefail

regions=${REGIONS:-1,2,4,8,16}
bodies=${BODIES:-100000}
duration=${DURATION:-10s}
json=${JSON:-$PWD/regions-bench.json}

cd "$(dirname "$0")/.."
bin=$(mktemp -d)/supervisor
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/supervisor

most=$(tr ',' '\n' <<<"$regions" | sort -n | tail -1)
cores=$(nproc)
if ((cores < most + 3)); then
	echo "regions-bench: $cores cores for up to $most regions, ai, net and bench: the regions will share cores" >&2
fi

echo "regions-bench: $(date -u +%FT%TZ), $(uname -srm), $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "regions-bench: $bin bench --regions $regions --bodies $bodies --duration $duration --json $json $*" >&2
"$bin" bench --regions "$regions" --bodies "$bodies" --duration "$duration" --json "$json" "$@"
