#!/usr/bin/env bash
# bench.sh: every performance figure of the project next to its target.
#
# Builds the binary, measures it as a process (hyperfine, /proc), runs the
# Go benchmarks that hold the in-process figures and the process scenarios
# of internal/procbench (the bulk simulator as a separate process), prints a
# table and rewrites the "## Summary" and "## Process scenarios" sections of
# docs/BENCHMARKS.md, leaving every other section as it is.
#
# Environment: BENCH_WINDOW (default 30s) is the measuring window of each
# polling scenario; BENCH_QUICK=1 shortens everything for a smoke run;
# BENCH_DOC=0 leaves docs/BENCHMARKS.md alone.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=bin/femtoclaw
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TSV=$OUT/figures.tsv
: >"$TSV"
export BENCH_WINDOW=${BENCH_WINDOW:-30s}
READY_RUNS=20 HYPER_RUNS=200 INIT_RUNS=20 BENCHTIME=1s
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	BENCH_WINDOW=8s READY_RUNS=3 HYPER_RUNS=20 INIT_RUNS=3 BENCHTIME=100x
	export BENCH_IDLE=4s BENCH_WARMUP=2s
fi
START=$(date +%s)

# row FIGURE VALUE TARGET VERDICT
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$TSV"; }
verdict() { if awk "BEGIN {exit !($1)}"; then echo pass; else echo FAIL; fi; }

need() {
	command -v "$1" >/dev/null && return
	echo "bench: installing $2" >&2
	apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
}
need hyperfine hyperfine
[ -x /usr/bin/time ] || need /usr/bin/time time

echo "== build"
make --no-print-directory build >/dev/null
size=$(stat -c %s "$BIN")
row "binary size, linux/$(go env GOARCH), stripped" "$(awk "BEGIN {printf \"%.1f MB\", $size/1e6}")" "" pass

# Stripped arm64 sizes: the firmware target, with every driver and without
# the drivers a build tag drops.
LDFLAGS="-s -w -buildid="
for tags in "" nosimopcua "nosimopcua,nogpio"; do
	f=$OUT/femtoclaw-arm64${tags:+-${tags/,/-}}
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "$LDFLAGS" ${tags:+-tags $tags} -o "$f" ./cmd/femtoclaw
	s=$(stat -c %s "$f")
	if [ -z "$tags" ]; then
		row "binary size, linux/arm64, stripped, make build (every driver, simulator with OPC UA)" "$(awk "BEGIN {printf \"%.1f MB\", $s/1e6}")" "" pass
	elif [ "$tags" = nosimopcua ]; then
		row "binary size, linux/arm64, stripped, firmware (-tags nosimopcua, every driver)" "$(awk "BEGIN {printf \"%.1f MB\", $s/1e6}")" "< 25 MB" "$(verdict "$s < 25e6")"
	else
		row "binary size, linux/arm64, stripped, -tags $tags" "$(awk "BEGIN {printf \"%.1f MB\", $s/1e6}")" "" pass
	fi
done

echo "== femtoclaw version: exec to exit"
hyperfine -N --warmup 20 --runs "$HYPER_RUNS" --export-json "$OUT/version.json" "$BIN version" >/dev/null 2>&1
read -r med min max sd user sys < <(python3 -c '
import json,sys,statistics as s
r=json.load(open(sys.argv[1]))["results"][0]
t=r["times"]
print(*(f"{x*1e3:.1f}" for x in (r["median"],min(t),max(t),r["stddev"],r["user"],r["system"])))' "$OUT/version.json")
row "femtoclaw version: exec to exit (hyperfine)" "median $med ms (min $min, max $max, sd $sd; user $user + sys $sys ms)" "< 12 ms" "$(verdict "$med < 12")"
/usr/bin/time -f '%M' -o "$OUT/version.rss" "$BIN" version >/dev/null
row "femtoclaw version: max RSS (/usr/bin/time)" "$(awk '{printf "%.1f MB", $1/1024}' "$OUT/version.rss")" "" pass

echo "== package init (GODEBUG=inittrace=1, $INIT_RUNS runs)"
for _ in $(seq "$INIT_RUNS"); do GODEBUG=inittrace=1 "$BIN" version 2>&1 >/dev/null; done >"$OUT/inittrace"
python3 - "$OUT/inittrace" "$OUT/init.md" "$INIT_RUNS" >"$OUT/init.tot" <<'EOF'
import re,sys,statistics,collections
per=collections.defaultdict(list)
for line in open(sys.argv[1]):
    m=re.match(r'init (\S+) @\S+ ms, ([\d.]+) ms clock, (\d+) bytes, (\d+) allocs',line)
    if m: per[m.group(1)].append((float(m.group(2)),int(m.group(3)),int(m.group(4))))
runs=int(sys.argv[3])
# Sum the packages of one module under its module path.
def module(p):
    parts=p.split('/')
    if '.' not in parts[0]: return 'standard library'
    n=3
    if parts[0] in ('golang.org','google.golang.org','periph.io','go.opentelemetry.io'): n=3
    if parts[0]=='gopkg.in': n=2
    m='/'.join(parts[:n])
    if len(parts)>n and re.fullmatch(r'v\d+',parts[n]): m+='/'+parts[n]
    return m
# The median of each package's runs: one run preempted on a busy machine
# must not count as init work.
mods=collections.defaultdict(float); allocs=collections.defaultdict(float)
for p,v in per.items():
    mods[module(p)]+=statistics.median(x[0] for x in v)
    allocs[module(p)]+=statistics.median(x[2] for x in v)
total=sum(mods.values())
own=mods.get('github.com/femtoclaw/femtoclaw',0)
with open(sys.argv[2],'w') as f:
    f.write("| module | init, ms (sum of its packages' medians over %d runs) | allocs |\n|---|---:|---:|\n"%runs)
    for m,v in sorted(mods.items(),key=lambda x:-x[1]):
        if v>=0.05 or m=='github.com/femtoclaw/femtoclaw':
            f.write(f"| {m} | {v:.2f} | {allocs[m]:.0f} |\n")
    f.write(f"| **all packages** | **{total:.2f}** | |\n")
print(f"{total:.2f} {own:.3f}")
EOF
read -r itotal iown <"$OUT/init.tot"
row "package init, all packages (inittrace)" "$itotal ms" "" pass
row "package init, femtoclaw's own packages" "$iown ms" "~0" "$(verdict "$iown < 0.2")"

echo "== Go benchmarks"
gobench() { # PKG REGEX BENCHTIME
	go test -run '^$' -bench "$2" -benchtime "$3" -benchmem -count=1 "$1" 2>&1 | tee -a "$OUT/gobench.txt" | grep -E '^Benchmark' || true
}
# metric NAME UNIT: the value of UNIT on the first result line of NAME
metric() { awk -v n="$1" -v u="$2" '$1 ~ "^"n"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) {print $(i-1); exit}}' "$OUT/gobench.txt"; }
gobench ./capability/ '^BenchmarkDecide$' "$BENCHTIME"
p99=$(metric BenchmarkDecide p99-ns)
row "gate decision, write with two interlocks (BenchmarkDecide)" "p99 $(awk "BEGIN {printf \"%.1f\", ${p99:-0}/1000}") µs, p50 $(awk "BEGIN {printf \"%.1f\", $(metric BenchmarkDecide p50-ns)/1000}") µs" "p99 < 50 µs" "$(verdict "${p99:-1e9} < 50000")"
gobench ./journal/ '^Benchmark(AppendSync|Fsync)$' "${BENCHTIME/1s/200x}"
row "journal: synced intent, 1 writer (BenchmarkAppendSync)" "$(metric 'BenchmarkAppendSync/writers=1' intents/s) intents/s, fsync p50 $(metric BenchmarkFsync p50-µs) µs" "" pass
row "journal: synced intents, 64 writers (BenchmarkAppendSync)" "$(metric 'BenchmarkAppendSync/writers=64' intents/s) intents/s" "" pass
gobench ./gateway/agent/ '^Benchmark(AgentStart|StepDenied|StepRead)$' "$BENCHTIME"
st=$(metric BenchmarkAgentStart p99-µs/start)
if [ -n "$st" ]; then
	row "agent start: trigger to first provider request (BenchmarkAgentStart)" "mean $(metric BenchmarkAgentStart µs/start) µs, p99 $st µs" "< 1 ms" "$(verdict "$st < 1000")"
fi
row "agent step, denied call (BenchmarkStepDenied)" "$(metric BenchmarkStepDenied µs/step) µs/step" "" pass
row "agent step, allowed read over Modbus TCP (BenchmarkStepRead)" "$(metric BenchmarkStepRead µs/step) µs/step" "" pass

echo "== process scenarios"
export FEMTOCLAW_BENCH=1 FEMTOCLAW_BIN=$PWD/$BIN BENCH_TSV=$OUT/proc.tsv BENCH_READY_RUNS=$READY_RUNS
go test -count=1 -timeout 20m -run '^(TestReady|TestIdle)$' -v ./internal/procbench/ >"$OUT/proc.log" 2>&1 || { cat "$OUT/proc.log"; exit 1; }
BENCH_DEVICES=1 BENCH_REGISTERS=10000 go test -count=1 -timeout 20m -run '^TestTags$' -v ./internal/procbench/ >>"$OUT/proc.log" 2>&1 || { cat "$OUT/proc.log"; exit 1; }
BENCH_DEVICES=10 BENCH_REGISTERS=10000 go test -count=1 -timeout 20m -run '^TestTags$' -v ./internal/procbench/ >>"$OUT/proc.log" 2>&1 || { tail -n 30 "$OUT/proc.log"; row "100000 tags: scenario" "did not complete (see above)" "" FAIL; }
cut -f2- "$OUT/proc.tsv" >>"$TSV"

elapsed=$(($(date +%s) - START))
commit=$(git rev-parse --short=12 HEAD)
dirty=$(git diff --quiet HEAD -- scripts/bench.sh internal/procbench 2>/dev/null || echo " (bench harness modified)")
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) when it ended"

echo
column -t -s $'\t' -N figure,value,target,verdict "$TSV"
echo
echo "make bench: ${elapsed}s, commit $commit$dirty; $machine"

[ "${BENCH_DOC:-1}" = 1 ] || exit 0
python3 - docs/BENCHMARKS.md "$TSV" "$OUT/init.md" "$commit$dirty" "$machine" "$elapsed" <<'EOF'
import sys,re
doc,tsv,init,commit,machine,elapsed=sys.argv[1:7]
text=open(doc).read()
rows=[l.rstrip('\n').split('\t') for l in open(tsv) if l.strip()]
summary=["## Summary","",
 f"Measured by `make bench` ({elapsed} s) at commit {commit} on {machine}.",
 "Every target is a floor to beat on this kind of machine; `FAIL` marks one",
 "that is not met yet. Timings of processes are wall clock, so a loaded",
 "machine inflates them; CPU and memory figures come from /proc.","",
 "| figure | value | target | |","|---|---|---|---|"]
summary+=[f"| {r[0]} | {r[1]} | {r[2] if len(r)>2 else ''} | {r[3] if len(r)>3 else ''} |" for r in rows]
proc=["## Process scenarios","",
 "Reproduce with `make bench` (scripts/bench.sh); the scenarios are the tests",
 "of internal/procbench, run against the built binary with the simulator as a",
 "separate process:","",
 "- **version**: `hyperfine -N` runs `femtoclaw version`; median, extremes and",
 "  standard deviation, with the CPU time it used.",
 "- **exec to ready**: `femtoclaw run` with configs/demo.yaml (the simulator's",
 "  address and a fresh data dir filled in) until the API socket answers and",
 "  the first poll's telemetry has reached the broker. The broker runs in the",
 "  harness, subscribed before the exec, so that the first message is seen;",
 "  with the embedded broker only the socket can be timed from outside.",
 "- **idle**: the demo config after 15 s; VmRSS and VmHWM from /proc.",
 "- **tags**: `femtoclaw sim --bulk N --registers 10000` serves N devices; the",
 "  gateway polls every register as a uint16 point at 1 s and publishes to its",
 "  embedded broker, where the harness subscribes. The config declares each",
 "  device's registers as one range (`count: 10000`). After a warm-up, over",
 "  BENCH_WINDOW (30 s) it takes the gateway's CPU from /proc/PID/stat, its RSS",
 "  each second (steady = median) and VmHWM (peak, start-up included); then,",
 "  for BENCH_WRITE_WINDOW (20 s), it calls `set_r0` through the API socket",
 "  every 200 ms (call to outcome). Both windows count gaps over 1.5 s",
 "  between a device's messages (overruns).","",
 "### Package init (`GODEBUG=inittrace=1 femtoclaw version`)","",
 "Per module, the clock time of its packages' init functions; femtoclaw's own",
 "packages only register their drivers. The rest is dependencies:",
 "jsonschema v5 compiles every draft's meta-schema in its init, and the",
 "Prometheus client comes with Pebble.",""]
proc+=open(init).read().rstrip('\n').split('\n')
def splice(text,title,body):
    block='\n'.join(body)+'\n'
    pat=re.compile(r'^'+re.escape(title)+r'\n.*?(?=^## |\Z)',re.S|re.M)
    if pat.search(text):
        return pat.sub(lambda m: block+'\n',text,count=1)
    return None
t=splice(text,"## Summary",summary)
if t is None:
    # First run: the summary goes right after the document's introduction.
    m=re.search(r'^## ',text,re.M)
    i=m.start() if m else len(text)
    t=text[:i]+'\n'.join(summary)+'\n\n'+text[i:]
t2=splice(t,"## Process scenarios",proc)
if t2 is None:
    t2=t.rstrip('\n')+'\n\n'+'\n'.join(proc)+'\n'
open(doc,'w').write(t2)
EOF
echo "wrote docs/BENCHMARKS.md"
