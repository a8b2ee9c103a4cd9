#!/bin/sh
# The run path's fixed cost, two binaries side by side (bench/RESULTS.md,
# "wt-run"). Usage: bench/run-overhead.sh OLD_BIN NEW_BIN [SERVICES]
# Builds one fleet of SERVICES (default 1000) installed no-op workspaces
# per binary (as benches/fleet.rs builds its run row: fake systemctl,
# SYNCFLEET_NOW fixed) in a temp dir, then times with farm-bench, paired:
# `run` of one service, and `history --service ONE --limit 1`.
set -eu
OLD=$(realpath "$1"); NEW=$(realpath "$2"); N=${3:-1000}
top=$(mktemp -d)
fleet() { # fleet BIN DIR: DIR/env holds the environment, DIR/first an id
    bin=$1; root=$2
    mkdir -p "$root/home" "$root/bin" "$root/ws"
    printf '#!/bin/sh\ncase "$*" in *"show -p Version"*) echo 255;; *"show -p LoadState"*) printf "LoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n";; esac\nexit 0\n' > "$root/bin/systemctl"
    printf '#!/bin/sh\necho Linger=yes\n' > "$root/bin/loginctl"
    chmod 755 "$root/bin/systemctl" "$root/bin/loginctl"
    : > "$root/list"
    i=0
    while [ "$i" -lt "$N" ]; do
        mkdir -p "$root/ws/w$i"
        printf '{"projects":["https://gitlab.example.com/g/w%s"],"stages":[{"name":"noop","command":["true"]}]}' "$i" > "$root/ws/w$i/syncfleet.json"
        echo "$root/ws/w$i" >> "$root/list"
        i=$((i + 1))
    done
    echo "HOME=$root/home XDG_CONFIG_HOME=$root/config XDG_DATA_HOME=$root/data SYNCFLEET_DATA_DIR=$root/data/sf USER=bench SYNCFLEET_NOW=2026-11-01T00:00:00Z PATH=$root/bin:/usr/bin:/bin" > "$root/env"
    (cd "$root/home" && env -i $(cat "$root/env") "$bin" --robot install --workspaces-from "$root/list" > /dev/null)
    ls "$root/data/sf/services" | head -1 > "$root/first"
    # The first reader after an install fills the registry: not timed.
    env -i $(cat "$root/env") "$bin" --robot history --limit 1 > /dev/null
}
fleet "$OLD" "$top/old"
fleet "$NEW" "$top/new"
cmd() { echo "env -i $(cat "$top/$1/env") $2 --robot $3 $(cat "$top/$1/first")$4"; }
echo "== run, $N services installed (A: new, B: old)"
farm-bench -n 41 --vs "$(cmd old "$OLD" 'run --service-id' '')" -- $(cmd new "$NEW" 'run --service-id' '')
echo "== history --service ONE --limit 1"
farm-bench -n 41 --vs "$(cmd old "$OLD" 'history --service' ' --limit 1')" -- $(cmd new "$NEW" 'history --service' ' --limit 1')
echo "== the stage alone"
farm-bench -n 41 -- env true
rm -rf "$top"
