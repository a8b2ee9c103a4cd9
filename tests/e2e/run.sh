#!/usr/bin/env bash
# End-to-end test of syncfleet against the REAL schedulers of this machine:
# a systemd user manager (systemd-user.sh) and a cron daemon (cron.sh),
# both started here for a test user and stopped again (by PID).
#
#   tests/e2e/run.sh <path/to/syncfleet>      (as root; builds nothing)
#
# For each scheduler, as the test user: install the fixture workspace
# (copied to a directory with an awkward name: spaces, %, &, <, $, ', é),
# with a token in env-file mode and a stage that checks it; wait for the
# scheduler itself to fire `run`; see the run in `status` (robot JSON), in
# runs.jsonl and in `history` (when that command exists); `pause` and see
# the next firing skip (status.json skipped.paused grows, no new run);
# `resume`; `uninstall` and see no unit, timer or crontab block left and no
# further firing. The two suites run in parallel (about 3 minutes).
#
# Prints one PASS/SKIP/FAIL line per check. Exit 0 when something passed and
# nothing failed, 1 on any FAIL, 2 on usage errors, 3 when everything was
# skipped. A scheduler that cannot be started here is a SKIP with the reason
# (E2E_STRICT=1 turns SKIPs into a failure).
# Needs: bash, jq, setpriv, cron (apt-get install cron; installed here when
# missing), systemd (for the systemd part). E2E_USER (default sfe2e),
# E2E_KEEP=1 keeps the state directory; E2E_ONLY="systemd cron fleet switch
# metrics calendar persistent" runs only the named suites. The metrics suite also needs
# prometheus-node-exporter (a SKIP without it).
# shellcheck disable=SC2317 # helpers are called through "$@" and arrays
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
readonly REPO=$HERE/../..
readonly U=${E2E_USER:-sfe2e}
readonly SD=$HERE/systemd-user.sh CRON=$HERE/cron.sh
# shellcheck disable=SC2016 # the $ is part of the token, not an expansion
readonly TOKEN='e2e-tok&en<>"q" $HOME %x'
readonly WS_NAME="ws 100% & <lt> \$X 'q' é"
readonly INTERVAL=1m

[[ $# -eq 1 ]] || { sed -n '6p' "$0" | sed 's/^# *//' >&2; exit 2; }
[[ -x $1 ]] || { echo "run.sh: $1 is not an executable syncfleet binary" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run.sh: must run as root (it starts a user manager and cron)" >&2; exit 2; }
SRC_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
readonly SRC_BIN
for tool in jq setpriv; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required (apt-get install $tool)" >&2; exit 2; }
done

STATE=$(mktemp -d /tmp/syncfleet-e2e.XXXXXX)
chmod 755 "$STATE"
readonly STATE RESULTS=$STATE/results
SD_UP=0 CRON_UP=0 CRONTAB_SAVED=0 CRONTAB_HAD=0 ROOT='' NE_PID='' NE_START=''

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # Remove what syncfleet may have left if a suite died half-way.
    if [[ $SD_UP == 1 ]]; then
        for t in demo fa fb fc fd sw mx ca cp; do
            "$SD" as-user "$STATE/sd" -- systemctl --user disable --now "syncfleet-$t.timer" >/dev/null 2>&1
        done
        "$SD" stop "$STATE/sd"
    fi
    [[ -n $NE_PID ]] && stop_proc "$NE_PID" "$NE_START" 5 prometheus-node-exporter
    if [[ $CRONTAB_SAVED == 1 ]]; then
        if [[ $CRONTAB_HAD == 1 ]]; then
            crontab -u "$U" "$STATE/crontab.saved"
        else
            crontab -u "$U" -r 2>/dev/null
        fi
    fi
    [[ $CRON_UP == 1 ]] && "$CRON" stop "$STATE/cron"
    if [[ -n $ROOT ]]; then
        rm -f "$HOME_U"/.config/systemd/user/syncfleet-{demo,fa,fb,fc,fd,sw,mx,ca,cp}.{service,timer} \
            "$HOME_U"/.config/syncfleet/cron/syncfleet-{demo,sw,cc}.cron
        [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf -- "$ROOT"
    fi
    if [[ ${E2E_KEEP:-0} == 1 ]]; then log "state kept in $STATE and $ROOT"; else rm -rf -- "$STATE"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the test user and its copy of everything ---------------------------------
ensure_user "$U"
readonly HOME_U
ROOT=$HOME_U/syncfleet-e2e
rm -rf -- "$ROOT"
install -d -o "$U" -g "$(id -g "$U")" -m 0755 "$ROOT" "$ROOT/bin"
# The binary where the user (and its scheduled units; PrivateTmp would hide
# /tmp) can execute it.
install -o "$U" -g "$(id -g "$U")" -m 0755 "$SRC_BIN" "$ROOT/bin/syncfleet"

# make_workspace SUITE: the fixture workspace plus a first stage that checks
# the token it is handed; prints its path.
make_workspace() {
    local ws="$ROOT/$1/$WS_NAME"
    mkdir -p "$ROOT/$1"
    cp -R "$REPO/fixtures/workspace" "$ws"
    rm -rf -- "$ws/data"
    printf '%s' "$TOKEN" >"$ws/expected-token"
    cat >"$ws/stages/check-token.sh" <<'EOF'
#!/bin/sh
# The token must arrive byte for byte.
[ "$SYNCFLEET_E2E_TOKEN" = "$(cat expected-token)" ] || { echo "token differs" >&2; exit 77; }
echo '{"ok":true,"data":{"items_updated":1}}'
EOF
    chmod 755 "$ws/stages/check-token.sh"
    jq '.token_env_var = "SYNCFLEET_E2E_TOKEN"
        | .stages = [{"name": "token", "command": ["./stages/check-token.sh"]}] + .stages' \
        "$REPO/fixtures/workspace/syncfleet.json" >"$ws/syncfleet.json"
    chown -R "$U:$(id -g "$U")" "$ROOT/$1"
    printf '%s' "$ws"
}

# --- helpers shared by the suites ----------------------------------------------
paused_count() { jq -r '.skipped.paused // 0' "$1/services/demo/status.json" 2>/dev/null || echo 0; }
runs_at_least() { has_lines "$1/services/demo/runs.jsonl" "$2"; }
paused_at_least() { (($(paused_count "$1") >= $2)); }

# suite NAME DATA WS ASU...: the common journey; ASU runs a command as the
# test user in the workspace with the suite's environment.
suite() {
    local name=$1 data=$2 ws=$3 first_wait=$4 next_wait=$5
    shift 5
    local asu=("$@") out v
    local sf=("${asu[@]}" "$ROOT/bin/syncfleet" --robot)

    out=$("${sf[@]}" install --scheduler "$name" --interval "$INTERVAL" 2>"$STATE/$name.install.err") || true
    if [[ $(jq -r .ok <<<"$out" 2>/dev/null) == true ]]; then
        result "$name" install PASS "$(jq -r '.data.service_files | join(", ")' <<<"$out")"
    else
        result "$name" install FAIL "$out $(cat "$STATE/$name.install.err")"
        return
    fi
    after_install_"$name" "${asu[@]}"
    out=$("${sf[@]}" install --scheduler "$name" --interval "$INTERVAL" 2>/dev/null) || true
    if [[ $(jq -r .data.no_change <<<"$out" 2>/dev/null) == true ]]; then
        result "$name" reinstall-no-op PASS "a second install changes nothing"
    else
        result "$name" reinstall-no-op FAIL "$(jq -c '.data.changes // .error' <<<"$out" 2>/dev/null || echo "$out")"
    fi
    out=$("${sf[@]}" doctor --offline 2>/dev/null) || true
    v=$(jq -r '.data.overall' <<<"$out" 2>/dev/null)
    if [[ $v == pass || $v == warn ]]; then
        result "$name" doctor PASS "overall $v"
    else
        result "$name" doctor FAIL "$(jq -c '[.data.checks[] | select(.status == "fail")]' <<<"$out" 2>/dev/null || echo "$out")"
    fi

    local t=$SECONDS
    if wait_until "$first_wait" 1 runs_at_least "$data" 1; then
        result "$name" scheduled-run PASS "the scheduler fired run $((SECONDS - t))s after install"
    else
        result "$name" scheduled-run FAIL "no run within ${first_wait}s; stderr log: $(tail -c 400 "$data/services/demo/logs/scheduler-stderr.log" 2>/dev/null)"
        return
    fi
    local run
    run=$(tail -n 1 "$data/services/demo/runs.jsonl")
    if [[ $(jq -r '.outcome + "/" + .trigger' <<<"$run") == success/scheduled ]]; then
        result "$name" runs.jsonl PASS "run $(jq -r .run_id <<<"$run"): success, scheduled, stages $(jq -r '[.stage_results[].stage] | join(",")' <<<"$run")"
    else
        result "$name" runs.jsonl FAIL "$run"
    fi
    out=$("${sf[@]}" status 2>/dev/null) || true
    if [[ $(jq -r '[.data.platform, .data.last_sync.outcome, .data.last_sync.run_id, (.data.drift | tostring)] | join(" ")' <<<"$out") == \
        "$name success $(jq -r .run_id <<<"$run") "'{"platform_drift":false,"spec_drift":false,"command_drift":false}' ]]; then
        result "$name" status PASS "platform $name, last run success, no drift, state $(jq -r .data.service_state <<<"$out")"
    else
        result "$name" status FAIL "$(jq -c '.data | {platform, service_state, last_sync: .last_sync.outcome, drift}' <<<"$out" 2>/dev/null || echo "$out")"
    fi
    if "${asu[@]}" "$ROOT/bin/syncfleet" history --help >/dev/null 2>&1; then
        out=$("${sf[@]}" history --service demo 2>/dev/null) || true
        if grep -qF "$(jq -r .run_id <<<"$run")" <<<"$out"; then
            result "$name" history PASS "lists run $(jq -r .run_id <<<"$run")"
        else
            result "$name" history FAIL "run $(jq -r .run_id <<<"$run") not in: $(head -c 300 <<<"$out")"
        fi
    else
        result "$name" history SKIP "this syncfleet has no history command"
    fi

    # pause: the next firing must be a no-op
    local runs paused
    out=$("${sf[@]}" pause --reason e2e 2>/dev/null) || true
    runs=$(nlines "$data/services/demo/runs.jsonl")
    paused=$(paused_count "$data")
    t=$SECONDS
    if [[ $(jq -r .ok <<<"$out") != true ]]; then
        result "$name" pause FAIL "$out"
    elif wait_until "$next_wait" 1 paused_at_least "$data" $((paused + 1)); then
        if (($(nlines "$data/services/demo/runs.jsonl") == runs)); then
            result "$name" pause PASS "next firing skipped ($((SECONDS - t))s later): skipped.paused $paused -> $(paused_count "$data"), no new run"
        else
            result "$name" pause FAIL "a run was recorded while paused"
        fi
    else
        result "$name" pause FAIL "no skipped firing within ${next_wait}s (skipped.paused still $paused)"
    fi
    out=$("${sf[@]}" resume 2>/dev/null) || true
    if [[ $(jq -r .ok <<<"$out") == true && $("${sf[@]}" status 2>/dev/null | jq -r .data.paused_reason) == null ]]; then
        result "$name" resume PASS "pause cleared"
    else
        result "$name" resume FAIL "$out"
    fi

    # uninstall: nothing left, nothing fires
    out=$("${sf[@]}" uninstall 2>/dev/null) || true
    if [[ $(jq -r '.ok and .data.was_installed' <<<"$out") == true ]]; then
        result "$name" uninstall PASS "removed $(jq -r '.data.removed_files | length' <<<"$out") files"
    else
        result "$name" uninstall FAIL "$out"
    fi
    local left
    left=$(leftovers_"$name" "${asu[@]}")
    if [[ -z $left ]]; then
        result "$name" nothing-left PASS "no unit, timer or crontab block"
    else
        result "$name" nothing-left FAIL "$left"
    fi
    runs=$(nlines "$data/services/demo/runs.jsonl")
    paused=$(paused_count "$data")
    local log_size
    log_size=$(stat -c %s "$data/services/demo/logs/service.log" 2>/dev/null || echo 0)
    sleep "$((next_wait < 80 ? next_wait : 80))"
    if (($(nlines "$data/services/demo/runs.jsonl") == runs && $(paused_count "$data") == paused)) &&
        [[ $(stat -c %s "$data/services/demo/logs/service.log" 2>/dev/null || echo 0) == "$log_size" ]]; then
        result "$name" no-more-firing PASS "nothing ran in the $((next_wait < 80 ? next_wait : 80))s after uninstall"
    else
        result "$name" no-more-firing FAIL "the scheduler still fired after uninstall"
    fi
}

# The units syncfleet installed, checked offline by systemd itself.
after_install_systemd() {
    local err
    # shellcheck disable=SC2016 # $HOME is the test user's, expanded by its sh
    err=$("$@" sh -c 'systemd-analyze verify --user --man=no "$HOME/.config/systemd/user/syncfleet-demo.service" "$HOME/.config/systemd/user/syncfleet-demo.timer" 2>&1 >/dev/null')
    if [[ $? == 0 && -z $err ]]; then
        result systemd units-verify PASS "systemd-analyze verify --user: exit 0, empty stderr"
    else
        result systemd units-verify FAIL "$err"
    fi
}

# The block cron has is byte for byte the one install rendered.
after_install_cron() {
    local staged=$HOME_U/.config/syncfleet/cron/syncfleet-demo.cron
    if crontab -u "$U" -l | sed -n '/^# BEGIN syncfleet demo$/,/^# END syncfleet demo$/p' | cmp -s - "$staged"; then
        result cron crontab-round-trip PASS "crontab -l returns the rendered block unchanged"
    else
        result cron crontab-round-trip FAIL "$(crontab -u "$U" -l 2>&1 | head -c 400)"
    fi
}

leftovers_systemd() {
    local left='' f
    for f in syncfleet-demo.service syncfleet-demo.timer; do
        [[ -e $HOME_U/.config/systemd/user/$f ]] && left+="$f still on disk; "
    done
    if "$@" systemctl --user list-timers --all --no-pager 2>&1 | grep -q syncfleet-demo; then
        left+="timer still listed; "
    fi
    local load
    load=$("$@" systemctl --user show -p LoadState --value syncfleet-demo.timer 2>/dev/null)
    [[ $load == not-found ]] || left+="timer LoadState=$load; "
    printf '%s' "$left"
}

leftovers_cron() {
    local left=''
    if crontab -u "$U" -l 2>/dev/null | grep -q 'syncfleet demo'; then
        left+="crontab block still there; "
    fi
    [[ -e $HOME_U/.config/syncfleet/cron/syncfleet-demo.cron ]] && left+="staged block still on disk; "
    printf '%s' "$left"
}

# --- systemd suite ------------------------------------------------------------
systemd_suite() {
    set +e # a failed check is a FAIL line, not the end of the suite
    local ws data="$ROOT/systemd/data 100% é"
    ws=$(make_workspace systemd)
    # as-user passes SYNCFLEET_* through and keeps the caller's cwd.
    export SYNCFLEET_DATA_DIR=$data SYNCFLEET_E2E_SHORT_INTERVALS=1 SYNCFLEET_E2E_TOKEN=$TOKEN
    cd "$ws"
    # First firing: at once when the manager has run for over
    # OnStartupSec= (30 s + a per-service offset), else that long after it
    # started; the next one 60s after the previous run ended.
    suite systemd "$data" "$ws" 90 100 "$SD" as-user "$STATE/sd" --
}

# --- cron suite -----------------------------------------------------------------
asu_cron() {
    local ws=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner sh
    setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups \
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOME_U" USER="$U" LOGNAME="$U" \
        SHELL=/bin/sh LANG=C.UTF-8 SYNCFLEET_DATA_DIR="$CRON_DATA" \
        SYNCFLEET_E2E_SHORT_INTERVALS=1 SYNCFLEET_E2E_TOKEN="$TOKEN" \
        sh -c 'cd "$0" && exec "$@"' "$ws" "$@"
}

cron_suite() {
    set +e # a failed check is a FAIL line, not the end of the suite
    local ws
    ws=$(make_workspace cron)
    CRON_DATA="$ROOT/cron/data 100% é"
    # Without a user manager, doctor must say so and point at cron.
    local out action
    out=$(asu_cron "$ws" "$ROOT/bin/syncfleet" --robot doctor --offline 2>/dev/null) || true
    action=$(jq -r '.data.checks[] | select(.name == "systemd_user_manager") | .status + ": " + .action' <<<"$out" 2>/dev/null)
    if [[ $action == fail:*"--scheduler cron"* ]]; then
        result cron doctor-suggests-cron PASS "systemctl --user unreachable -> suggests --scheduler cron"
    else
        result cron doctor-suggests-cron FAIL "systemd_user_manager check: ${action:-missing} $(head -c 300 <<<"$out")"
    fi
    # cron starts jobs at minute boundaries and rereads crontabs each
    # minute: up to two minutes for the first firing.
    suite cron "$CRON_DATA" "$ws" 150 130 asu_cron "$ws"
}

# --- fleet suites: changing one service never touches another ------------------
# make_simple_workspace SUITE NAME: a workspace whose one stage succeeds;
# prints its path.
make_simple_workspace() {
    local ws="$ROOT/$1/$2"
    mkdir -p "$ws"
    printf '{"name": "%s", "stages": [{"name": "noop", "command": ["/bin/true"]}]}\n' "$2" >"$ws/syncfleet.json"
    chown -R "$U:$(id -g "$U")" "$ROOT/$1"
    printf '%s' "$ws"
}
# sf_in WS ARGS...: syncfleet --robot as the test user, in WS, on the
# user manager (SYNCFLEET_DATA_DIR from the caller's environment).
sf_in() {
    local ws=$1
    shift
    (cd "$ws" && "$SD" as-user "$STATE/sd" -- "$ROOT/bin/syncfleet" --robot "$@" 2>>"$STATE/fleet.err")
}
runs_of() { nlines "$SYNCFLEET_DATA_DIR/services/$1/runs.jsonl"; }
runs_of_at_least() { (($(runs_of "$1") >= $2)); }
# all_idle ID...: none of the services' systemd units is running
all_idle() {
    local id state
    for id in "$@"; do
        state=$("$SD" as-user "$STATE/sd" -- systemctl --user is-active "syncfleet-$id.service" 2>/dev/null)
        [[ $state == inactive || $state == failed ]] || return 1
    done
}
all_ran_once() {
    local id
    for id in "$@"; do (($(runs_of "$id") >= 1)) || return 1; done
}

# Install three services on the real user manager, let each run once, then
# install, reconfigure and remove others: none of the three may run again
# in the next two minutes (their interval is 5m). Each install and
# uninstall runs a daemon-reload, which re-fired every OnActiveSec= timer.
fleet_suite() {
    set +e
    export SYNCFLEET_DATA_DIR="$ROOT/fleet/data"
    local id out t counts_before counts_after
    mkdir -p "$ROOT/fleet"
    for id in fa fb fc fd; do make_simple_workspace fleet "$id" >/dev/null; done
    t=$SECONDS
    for id in fa fb fc; do
        out=$(sf_in "$ROOT/fleet/$id" install --interval 5m)
        [[ $(jq -r .ok <<<"$out") == true ]] || { result fleet install-three FAIL "$id: $out"; return; }
    done
    if wait_until 100 1 all_ran_once fa fb fc; then
        result fleet first-runs PASS "three services installed; each ran once within $((SECONDS - t))s of install"
    else
        result fleet first-runs FAIL "runs after 100s: fa $(runs_of fa), fb $(runs_of fb), fc $(runs_of fc)"
        return
    fi
    # Counted once no run is under way: one still writing would add to them.
    wait_until 30 0.5 all_idle fa fb fc ||
        result fleet runs-settle FAIL "a first run was still going 30s later"
    counts_before="$(runs_of fa) $(runs_of fb) $(runs_of fc)"
    out=$(sf_in "$ROOT/fleet/fd" install --interval 5m)
    [[ $(jq -r .ok <<<"$out") == true ]] || result fleet install-fourth FAIL "$out"
    t=$SECONDS
    if wait_until 60 1 all_ran_once fd; then
        result fleet fourth-first-run PASS "a service installed on a running manager ran $((SECONDS - t))s after install"
    else
        result fleet fourth-first-run FAIL "the fourth service did not run within 60s: $("$SD" as-user "$STATE/sd" -- systemctl --user show -p ActiveState -p NextElapseUSecMonotonic -p LastTriggerUSec syncfleet-fd.timer 2>&1 | tr '\n' ' '); manager up $("$SD" as-user "$STATE/sd" -- systemctl --user show -p UserspaceTimestampMonotonic --value 2>&1)us; uptime $(cut -d' ' -f1 /proc/uptime)s; $(tail -c 300 "$SYNCFLEET_DATA_DIR/services/fd/logs/scheduler-stderr.log" 2>/dev/null)"
    fi
    out=$(sf_in "$ROOT/fleet/fb" install --interval 6m)
    [[ $(jq -r '.data.changes | join(",")' <<<"$out") == interval ]] ||
        result fleet reconfigure FAIL "install --interval 6m on fb: $out"
    out=$(sf_in "$ROOT/fleet/fd" uninstall)
    [[ $(jq -r .ok <<<"$out") == true ]] || result fleet uninstall-fourth FAIL "$out"
    sleep 120
    counts_after="$(runs_of fa) $(runs_of fb) $(runs_of fc)"
    if [[ $counts_after == "$counts_before" ]]; then
        result fleet no-extra-runs PASS "runs of fa fb fc stayed '$counts_before' for 120s after installing, reconfiguring and uninstalling others"
    else
        result fleet no-extra-runs FAIL "runs of fa fb fc went from '$counts_before' to '$counts_after'"
    fi
    for id in fa fb fc; do sf_in "$ROOT/fleet/$id" uninstall >/dev/null; done
    if "$SD" as-user "$STATE/sd" -- systemctl --user list-timers --all --no-pager 2>&1 | grep -q 'syncfleet-f[a-d]'; then
        result fleet cleanup FAIL "timers left: $("$SD" as-user "$STATE/sd" -- systemctl --user list-timers --all --no-pager 2>&1 | grep syncfleet-f)"
    fi
}

# One service moved between the real cron daemon's crontab and the real
# user manager: one schedule at any time, none after uninstall.
switch_suite() {
    set +e
    export SYNCFLEET_DATA_DIR="$ROOT/switch/data"
    local ws out
    ws=$(make_simple_workspace switch sw)
    block() { crontab -u "$U" -l 2>/dev/null | grep -c '^# BEGIN syncfleet sw$'; }
    timer() { "$SD" as-user "$STATE/sd" -- systemctl --user show -p LoadState --value syncfleet-sw.timer 2>/dev/null; }
    out=$(sf_in "$ws" install --scheduler cron --interval 5m)
    out=$(sf_in "$ws" install)
    if [[ $(jq -r '.data.platform + " " + (.data.no_change | tostring)' <<<"$out") == "cron true" && $(block) == 1 && $(timer) == not-found ]]; then
        result switch reinstall-keeps-cron PASS "a reinstall without --scheduler stays on cron; no systemd timer"
    else
        result switch reinstall-keeps-cron FAIL "$(jq -c '.data | {platform, no_change, changes} // .error' <<<"$out"); crontab blocks $(block); timer $(timer)"
    fi
    out=$(sf_in "$ws" install --scheduler systemd)
    if [[ $(jq -r .ok <<<"$out") == true && $(block) == 0 && $(timer) == loaded ]]; then
        result switch cron-to-systemd PASS "crontab block removed, timer loaded"
    else
        result switch cron-to-systemd FAIL "$(jq -c '.data.changes // .error' <<<"$out"); crontab blocks $(block); timer $(timer)"
    fi
    out=$(sf_in "$ws" install --scheduler cron)
    if [[ $(jq -r .ok <<<"$out") == true && $(block) == 1 && $(timer) == not-found ]]; then
        result switch systemd-to-cron PASS "timer gone, one crontab block"
    else
        result switch systemd-to-cron FAIL "$(jq -c '.data.changes // .error' <<<"$out"); crontab blocks $(block); timer $(timer)"
    fi
    out=$(sf_in "$ws" uninstall)
    if [[ $(jq -r .ok <<<"$out") == true && $(block) == 0 && $(timer) == not-found ]]; then
        result switch uninstall PASS "no crontab block, no timer"
    else
        result switch uninstall FAIL "$out; crontab blocks $(block); timer $(timer)"
    fi
    # Orphans: a schedule whose manifest is gone (deleted by hand, or a
    # first install killed half-way) is found and removed.
    local finding
    sf_in "$ws" install --scheduler systemd >/dev/null
    rm -f "$SYNCFLEET_DATA_DIR/services/sw/manifest.json"
    out=$(sf_in "$ws" doctor --offline)
    finding=$(jq -r '[.. | objects | select(.name? == "orphan" and .status? == "fail") | .action] | first // empty' <<<"$out" 2>/dev/null)
    sf_in "$ws" doctor --offline --fix >/dev/null
    if [[ $finding == "syncfleet uninstall --service sw"* && $(timer) == not-found ]]; then
        result switch orphan-systemd PASS "doctor: '$finding'; doctor --fix removed the timer"
    else
        result switch orphan-systemd FAIL "finding '${finding}'; timer $(timer); $(head -c 400 <<<"$out")"
    fi
    sf_in "$ws" install --scheduler cron >/dev/null
    rm -f "$SYNCFLEET_DATA_DIR/services/sw/manifest.json"
    out=$(sf_in "$ws" uninstall --all --yes)
    if [[ $(jq -r .ok <<<"$out") == true && $(block) == 0 && $(timer) == not-found ]]; then
        result switch orphan-cron PASS "uninstall --all removed the orphaned crontab block"
    else
        result switch orphan-cron FAIL "$out; crontab blocks $(block)"
    fi
}


# The metrics files served by a real node_exporter: a service on the user
# manager runs on its schedule, the run rewrites its own file in the
# textfile directory (kept with `metrics --dir`, the README's way: the
# manager's environment has no SYNCFLEET_METRICS_DIR), and node_exporter,
# running as another user (nobody),
# merges the families of the fleet file and of both services' files with
# no gathering error; an admin change (pause) shows up the same way.
metrics_suite() {
    set +e
    local ne=/usr/bin/prometheus-node-exporter
    if [[ ! -x $ne ]]; then
        result metrics node-exporter SKIP "prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter)"
        return
    fi
    export SYNCFLEET_DATA_DIR="$ROOT/metrics/data" SYNCFLEET_E2E_SHORT_INTERVALS=1
    local ws out port textfile=$STATE/metrics/textfile scraped=$STATE/metrics.scrape
    install -d -o "$U" -g "$(id -g "$U")" -m 0755 "$STATE/metrics"
    ws=$(make_simple_workspace metrics mx)
    out=$(sf_in "$ws" metrics --dir "$textfile")
    [[ $(jq -r .data.path <<<"$out") == "$textfile" ]] || { result metrics dir FAIL "$out"; return; }
    out=$(sf_in "$ws" install --interval 1m)
    [[ $(jq -r .ok <<<"$out") == true ]] || { result metrics install FAIL "$out"; return; }
    # A second service, installed with a long interval: its own file
    # carries the same families, which node_exporter must merge.
    local ws2
    ws2=$(make_simple_workspace metrics2 my)
    out=$(sf_in "$ws2" install --interval 24h)
    [[ $(jq -r .ok <<<"$out") == true ]] || { result metrics install FAIL "$out"; return; }
    local files=("$textfile/syncfleet-fleet.prom" "$textfile/syncfleet-svc-mx.prom" "$textfile/syncfleet-svc-my.prom")
    if [[ $(stat -c %a "$textfile") == 755 && $(stat -c %a "${files[@]}" | sort -u) == 644 ]]; then
        result metrics file-modes PASS "install created $textfile (0755), the fleet file and one file per service (0644)"
    else
        result metrics file-modes FAIL "$(stat -c '%a %n' "$textfile" "${files[@]}" 2>&1)"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$ne" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$textfile" \
        --web.listen-address="127.0.0.1:$port" >"$STATE/node-exporter.log" 2>&1 &
    NE_PID=$!
    NE_START=$(proc_starttime "$NE_PID")
    scrape() {
        python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
            "http://127.0.0.1:$port/metrics" >"$scraped" 2>/dev/null
    }
    # served METRIC VALUE LABEL...: the last scrape has METRIC with each
    # LABEL (name="value"; node_exporter sorts labels by name) and VALUE
    served() {
        local metric=$1 value=$2 lines l
        shift 2
        lines=$(grep "^$metric{" "$scraped")
        for l in "$@"; do lines=$(grep -F "$l" <<<"$lines"); done
        grep -q " $value\$" <<<"$lines"
    }
    serves() { scrape && served "$@"; }
    if ! wait_until 20 0.2 scrape; then
        result metrics node-exporter FAIL "no answer on 127.0.0.1:$port: $(tail -c 400 "$STATE/node-exporter.log")"
        return
    fi
    local t=$SECONDS mx='service_id="mx"'
    if wait_until 100 1 runs_of_at_least mx 1 &&
        wait_until 20 0.5 serves syncfleet_service_runs_total 1 "$mx" 'outcome="success"'; then
        result metrics scheduled-run-served PASS "the manager ran mx $((SECONDS - t))s after install; node_exporter (as nobody) serves runs_total{outcome=success} 1, $(grep -c '^syncfleet_' "$scraped") syncfleet series"
    else
        result metrics scheduled-run-served FAIL "runs $(runs_of mx); scrape: $(grep -E "runs_total.*$mx|textfile" "$scraped" | head -c 600)"
    fi
    # node_exporter logs (and does not count in scrape_error) a family it
    # refuses across files, such as one whose HELP differs between them.
    if grep -Eq '^node_textfile_scrape_error 0$' "$scraped" &&
        served syncfleet_service_last_success_timestamp_seconds '[0-9.e+]*' "$mx" &&
        served syncfleet_service_runs_total 0 'service_id="my"' 'outcome="success"' &&
        [[ $(grep -c '^node_textfile_mtime_seconds{file=".*/syncfleet-' "$scraped") == 3 ]] &&
        ! grep -q 'error gathering' "$STATE/node-exporter.log"; then
        result metrics textfile-clean PASS "node_textfile_scrape_error 0, no gathering error; 3 files merged: mx's last success and my's runs_total served"
    else
        result metrics textfile-clean FAIL "$(grep -E 'textfile|last_success|service_id="my"' "$scraped" | head -c 600); $(grep 'error gathering' "$STATE/node-exporter.log" | head -c 400)"
    fi
    out=$(sf_in "$ws" pause --reason e2e)
    if wait_until 20 0.5 serves syncfleet_service_paused 1 "$mx" 'kind="manual"'; then
        result metrics admin-change-served PASS "pause rewrote the file: paused{kind=manual} 1 served"
    else
        result metrics admin-change-served FAIL "$out; $(grep -E "paused.*$mx" "$scraped" | head -c 600)"
    fi
    sf_in "$ws" uninstall >/dev/null
    sf_in "$ws2" uninstall >/dev/null
    stop_proc "$NE_PID" "$NE_START" 5 prometheus-node-exporter
    if proc_gone "$NE_PID" "$NE_START"; then
        result metrics node-exporter-stopped PASS "killed by PID $NE_PID"
    else
        result metrics node-exporter-stopped FAIL "PID $NE_PID still running"
    fi
}

# --- calendar suites: --at on the real schedulers ----------------------------------
# minute_in N / hour_in N: the minute of the hour, and the hour, N minutes
# from now (two digits, UTC).
minute_in() { date -u -d "+$1 min" +%M; }
hour_in() { date -u -d "+$1 min" +%H; }
# first_run_minute DATA ID: the minute of the service's first recorded run
first_run_minute() { head -n 1 "$1/services/$2/runs.jsonl" | jq -r '.timestamp_iso[14:16]'; }

# A calendar service fires in the minute its expression names, not
# before: on the user manager (OnCalendar=, its spread within the minute)
# and on cron (a five-field line). The machine runs in UTC here.
calendar_suite() {
    set +e
    local data="$ROOT/calendar/data" ws out at minute hour first_iso=''
    export SYNCFLEET_DATA_DIR=$data TZ=UTC
    mkdir -p "$ROOT/calendar"
    # At least a minute ahead, so that a firing before it is seen; within
    # its hour, so that the range does not cover the minutes before it when
    # the target is :00 or :01 (`*:00..59` would fire at once).
    minute=$(minute_in 2)
    hour=$(hour_in 2)
    at="*-*-* $hour:$minute..59:00"
    ws=$(make_simple_workspace calendar ca)
    out=$(sf_in "$ws" install --at "$at")
    if [[ $(jq -r .ok <<<"$out") != true ]]; then
        result calendar systemd-install FAIL "$out"
    else
        # shellcheck disable=SC2016 # $HOME is the test user's
        if err=$("$SD" as-user "$STATE/sd" -- sh -c 'systemd-analyze verify --user --man=no "$HOME/.config/systemd/user/syncfleet-ca.service" "$HOME/.config/systemd/user/syncfleet-ca.timer" 2>&1 >/dev/null') && [[ -z $err ]]; then
            result calendar systemd-verify PASS "OnCalendar=$at, RandomizedDelaySec=, FixedRandomDelay=, Persistent=: verify clean"
        else
            result calendar systemd-verify FAIL "$err"
        fi
        first_iso=$(jq -r .data.first_run_iso <<<"$out")
    fi
    ws=$(make_simple_workspace calendar cc)
    out=$(cd "$ws" && setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups         env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOME_U" USER="$U" LOGNAME="$U" TZ=UTC         SYNCFLEET_DATA_DIR="$data" "$ROOT/bin/syncfleet" --robot install --scheduler cron --at "$at" 2>&1)
    [[ $(jq -r .ok <<<"$out") == true ]] || result calendar cron-install FAIL "$out"
    local t=$SECONDS
    wait_until 200 1 all_ran_once ca cc
    local sd_minute cron_minute
    sd_minute=$(first_run_minute "$data" ca)
    cron_minute=$(first_run_minute "$data" cc)
    if [[ $sd_minute == "$minute" ]]; then
        result calendar systemd-fires-at-minute PASS "OnCalendar= fired in minute :$minute ($((SECONDS - t))s after install)"
        # install's first run is the timer's own next elapse, spread included.
        local ran_at reported
        ran_at=$(date -u -d "$(head -n 1 "$data/services/ca/runs.jsonl" | jq -r .timestamp_iso)" +%s)
        reported=$(date -u -d "$first_iso" +%s 2>/dev/null || echo 0)
        if ((ran_at >= reported && ran_at - reported <= 3)); then
            result calendar systemd-first-run PASS "install reported $first_iso; the run started $((ran_at - reported))s after it"
        else
            result calendar systemd-first-run FAIL "install reported '$first_iso', the run started at $(head -n 1 "$data/services/ca/runs.jsonl" | jq -r .timestamp_iso)"
        fi
    else
        result calendar systemd-fires-at-minute FAIL "expected minute :$minute, first run in :${sd_minute:-none}; $(tail -c 300 "$data/services/ca/logs/scheduler-stderr.log" 2>/dev/null)"
    fi
    if [[ $cron_minute == "$minute" ]]; then
        result calendar cron-fires-at-minute PASS "the crontab line $(crontab -u "$U" -l | grep -m1 -- "-59 $((10#$hour)) \* \* \* " | cut -d' ' -f1-5) fired in minute :$minute"
    else
        result calendar cron-fires-at-minute FAIL "expected minute :$minute, first run in :${cron_minute:-none}; crontab: $(crontab -u "$U" -l 2>&1 | grep -v '^#' | head -c 300)"
    fi
    sf_in "$ROOT/calendar/ca" uninstall >/dev/null
    (cd "$ROOT/calendar/cc" && setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups         env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOME_U" USER="$U" LOGNAME="$U"         SYNCFLEET_DATA_DIR="$data" "$ROOT/bin/syncfleet" --robot uninstall >/dev/null 2>&1)
}

# Persistent=: a slot missed while the user manager was down runs once when
# it comes back, before the next slot. Every minute; systemd's fixed spread
# delay (the seconds of its next elapse) is the same before and after.
persistent_suite() {
    set +e
    local data="$ROOT/persistent/data" ws out next delay t_start runs
    export SYNCFLEET_DATA_DIR=$data
    mkdir -p "$ROOT/persistent"
    ws=$(make_simple_workspace persistent cp)
    out=$(sf_in "$ws" install --at '*:*:00' --timezone UTC)
    [[ $(jq -r .ok <<<"$out") == true ]] || { result persistent install FAIL "$out"; return; }
    if ! wait_until 150 1 all_ran_once cp; then
        result persistent first-run FAIL "no run within 150s"
        return
    fi
    wait_until 30 0.5 all_idle cp
    next=$(TZ=UTC "$SD" as-user "$STATE/sd" -- systemctl --user show -p NextElapseUSecRealtime --value syncfleet-cp.timer)
    delay=$(date -u -d "${next% UTC}" +%S)
    runs=$(runs_of cp)
    "$SD" stop "$STATE/sd"
    # Down across at least one slot (and its delay); back early in a
    # minute, so that the catch-up and the next regular slot are far apart.
    sleep 75
    wait_until 60 0.5 eval '((10#$(date -u +%S) >= 2 && 10#$(date -u +%S) <= 10))'
    if ! "$SD" start "$U" "$STATE/sd" 2>"$STATE/persistent-start.err"; then
        result persistent restart FAIL "$(tail -n 3 "$STATE/persistent-start.err")"
        return
    fi
    t_start=$(date -u +%s)
    # The next regular slot after the restart, with the same fixed delay.
    local regular=$(((t_start / 60 + 1) * 60 + 10#$delay))
    if wait_until 130 1 eval '(($(runs_of cp) > runs))'; then
        local ran_at
        ran_at=$(date -u -d "$(tail -n 1 "$data/services/cp/runs.jsonl" | jq -r .timestamp_iso)" +%s)
        if ((ran_at < regular)); then
            result persistent catch-up PASS "missed slot run $((ran_at - t_start))s after the manager came back (next regular slot was $((regular - t_start))s away; fixed delay ${delay}s)"
        else
            result persistent catch-up FAIL "the first run after the restart came at the regular slot (+$((ran_at - t_start))s), not as a catch-up"
        fi
    else
        result persistent catch-up FAIL "no run within 130s of the manager coming back"
    fi
    wait_until 30 0.5 all_idle cp
    sleep 5
    if (($(runs_of cp) == runs + 1)); then
        result persistent once PASS "one run for the missed slots, not one per slot"
    else
        result persistent once FAIL "runs went from $runs to $(runs_of cp)"
    fi
    sf_in "$ws" uninstall >/dev/null
}

# --- main -------------------------------------------------------------------------
install_cron_when_missing "$STATE/apt.log"
: >"$RESULTS"

pids=()
# start_reason FILE: the start script's own words for why it could not start
start_reason() { sed -n 's/^[a-z-]*\.sh: cannot start [^:]*: //p' "$1" | tail -n 1; }

# launch NAME WHAT SCRIPT ARGS...: start a real scheduler with its helper
# script; a SKIP (exit 3) or FAIL line when it cannot.
launch() {
    local name=$1 what=$2 script=$3 rc
    shift 3
    set +e
    "$script" start "$@" 2>"$STATE/$name-start.err"
    rc=$?
    set -e
    cat "$STATE/$name-start.err" >&2
    case $rc in
    0) return 0 ;;
    3) result "$name" start SKIP "no $what can run here: $(start_reason "$STATE/$name-start.err")" ;;
    *) result "$name" start FAIL "${script##*/} start exited $rc" ;;
    esac
    return 1
}

want() { [[ -z ${E2E_ONLY:-} || " $E2E_ONLY " == *" $1 "* ]]; }

if launch systemd "systemd user manager" "$SD" "$U" "$STATE/sd"; then
    SD_UP=1
    if want systemd; then
        (systemd_suite) >"$STATE/systemd.out" 2>&1 &
        pids+=($!)
    fi
fi
if launch cron "cron daemon" "$CRON" "$STATE/cron"; then
    CRON_UP=1
    if crontab -u "$U" -l >"$STATE/crontab.saved" 2>/dev/null; then CRONTAB_HAD=1; fi
    CRONTAB_SAVED=1
    if want cron; then
        (cron_suite) >"$STATE/cron.out" 2>&1 &
        pids+=($!)
    fi
fi

if [[ $SD_UP == 1 ]] && want fleet; then
    (fleet_suite) >"$STATE/fleet.out" 2>&1 &
    pids+=($!)
fi


log "suites running (${#pids[@]}); this takes a few minutes"
for p in "${pids[@]}"; do wait "$p" || true; done
# After the cron suite: both edit the test user's crontab.
if [[ $SD_UP == 1 && $CRON_UP == 1 ]] && want switch; then
    (switch_suite) >"$STATE/switch.out" 2>&1
fi
# After the cron suite too (one crontab); then persistent, last: it stops
# and restarts the user manager.
if [[ $SD_UP == 1 && $CRON_UP == 1 ]] && want calendar; then
    (calendar_suite) >"$STATE/calendar.out" 2>&1
fi
if [[ $SD_UP == 1 ]] && want persistent; then
    (persistent_suite) >"$STATE/persistent.out" 2>&1
fi
# Last: its own data directory and metrics directory, after the suites
# that restart the user manager.
if [[ $SD_UP == 1 ]] && want metrics; then
    (metrics_suite) >"$STATE/metrics.out" 2>&1
elif want metrics; then
    result metrics start SKIP "the metrics suite runs on the systemd user manager, which could not start here"
fi
for f in systemd cron fleet switch calendar persistent metrics; do
    if [[ -s $STATE/$f.out ]] && grep -qv '^\(PASS\|FAIL\|SKIP\) ' "$STATE/$f.out"; then
        log "$f suite diagnostics:"
        grep -v '^\(PASS\|FAIL\|SKIP\) ' "$STATE/$f.out" | tail -n 20 >&2
    fi
done

echo "--- summary"
cat "$RESULTS"
fails=$(count_results FAIL)
skips=$(count_results SKIP)
passes=$(count_results PASS)
log "done: $passes PASS, $fails FAIL, $skips SKIP"
if ((fails > 0)) || { [[ ${E2E_STRICT:-0} == 1 ]] && ((skips > 0)); }; then
    exit 1
fi
((passes > 0)) || exit 3
exit 0
