#!/bin/sh
# Regenerate docs/top.png, the README's screenshot of `syncfleet top`:
# a demo fleet in a temp dir (the tests' fake systemctl, a stopped clock,
# stages that follow a pattern of outcomes), `syncfleet top` in a real
# terminal (a tmux pane of its own socket), the pane captured with its
# colours (capture-pane -e), turned into HTML by aha and rendered by
# headless chromium.
#
# Needs tmux, aha and chromium (Debian: apt-get install tmux aha chromium
# fonts-dejavu-core). CI does not run this. Usage: docs/top-screenshot.sh
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
cargo build -q
bin=${CARGO_TARGET_DIR:-$repo/target}/debug/syncfleet
tmp=$(mktemp -d)
cleanup() {
    tmux -S "$tmp/tmux.sock" kill-server 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$tmp/home" "$tmp/config" "$tmp/share" "$tmp/data" "$tmp/fake-systemctl"
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/share" \
    SYNCFLEET_DATA_DIR="$tmp/data" FAKE_SYSTEMCTL_DIR="$tmp/fake-systemctl" \
    PATH="$repo/tests/fake-bin:/usr/local/bin:/usr/bin:/bin" NO_COLOR=1

# One character per run: s success, d degraded (the optional stage
# fails), f a transient failure, p a permanent one (exit 77).
# The loop below writes the round's number to .n (a transient failure is
# retried within its run, so the stage cannot count for itself).
stage='n=$(cat .n)
c=$(cut -c$n pattern)
sleep 0.$(( (n * 37 + ${#PWD}) % 5 ))
case "$1:$c" in
  core:f) echo "connection reset by peer" >&2; exit 1 ;;
  core:p) echo "GitLab returned 401 Unauthorized" >&2; exit 77 ;;
  optional:d) echo "embedding server timed out" >&2; exit 1 ;;
esac
echo "{\"items_updated\": $n}"'

runs=12
add() { # name tags pattern
    ws="$tmp/ws/$1"
    mkdir -p "$ws"
    printf '%s\n' "$3" > "$ws/pattern"
    cat > "$ws/syncfleet.json" <<EOF
{"projects": ["https://gitlab.example.com/demo/$1"], "tags": [$2],
 "retry_delay": {"min": "0s", "max": "10ms"},
 "stages": [
   {"name": "issues", "command": ["sh", "-c", $(printf '%s' "$stage" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), "stage", "core"]},
   {"name": "docs", "optional": true, "command": ["sh", "-c", $(printf '%s' "$stage" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), "stage", "optional"]}
 ]}
EOF
    (cd "$ws" && "$bin" install --name "$1" --interval 30m >/dev/null)
}

add api      '"team-a"'             ssssssssssss
add web      '"team-a", "frontend"' sssssssfsfff
add billing  '"team-b"'             ssssssssssfp
add docs     '"team-a", "nightly"'  ssdsddsdssdd
add search   '"team-b"'             ssssssssssss
add etl      '"team-c", "nightly"'  sfffffffffff
add mobile   '"frontend"'           sssfssssssss
add wiki     '"team-c"'             ssssssssssss
add reports  '"team-b", "nightly"'  sssssssssfss
add auth     '"team-a"'             ssssssssssss

base=$(date -u -d '2026-12-02T08:00:00Z' +%s)
i=1
while [ $i -le $runs ]; do
    export SYNCFLEET_NOW
    SYNCFLEET_NOW=$(date -u -d "@$((base + i * 1800 - 600))" +%Y-%m-%dT%H:%M:%SZ)
    for name in api web billing docs search etl mobile wiki reports auth; do
        echo $i > "$tmp/ws/$name/.n"
        "$bin" --robot trigger --ignore-backoff --service "$name" >/dev/null 2>&1 || true
    done
    i=$((i + 1))
done
SYNCFLEET_NOW=$(date -u -d "@$((base + runs * 1800 - 540))" +%Y-%m-%dT%H:%M:%SZ)
"$bin" pause --service wiki --reason "wiki migration this week" >/dev/null

unset NO_COLOR
tmux -S "$tmp/tmux.sock" -f /dev/null new-session -d -s shot -x 118 -y 16 \
    "env TERM=xterm-256color SYNCFLEET_NOW=$SYNCFLEET_NOW '$bin' top; sleep 60"
sleep 2
tmux -S "$tmp/tmux.sock" send-keys -t shot j j
sleep 1
tmux -S "$tmp/tmux.sock" capture-pane -e -p -t shot > "$tmp/top.ansi"
{
    echo '<!doctype html><meta charset="utf-8"><style>'
    echo 'body{margin:0;background:#1e1e1e}'
    echo 'pre{margin:0;padding:12px 14px;color:#ddd;font:15px/1.25 "DejaVu Sans Mono",monospace}'
    echo '</style><pre>'
    aha --no-header --black < "$tmp/top.ansi"
    echo '</pre>'
} > "$tmp/top.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1110,335 --screenshot="$repo/docs/top.png" "file://$tmp/top.html" 2>/dev/null
echo "wrote docs/top.png"
