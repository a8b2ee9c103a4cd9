# shellcheck shell=bash
# Helpers shared by the e2e scripts (run.sh, smoke.sh, systemd-user.sh,
# cron.sh); sourced, never run:  . "$(dirname "$0")/lib.sh"
# Waits poll a condition with a deadline; nothing waits a fixed time for
# something to have happened.

readonly EXIT_SKIP=3
ME=${0##*/}
readonly ME
LIB_T0=$SECONDS

# say MESSAGE...: a line on stderr, prefixed with the script's name (run.sh
# reads a start script's reason to skip from these lines).
say() { printf '%s: %s\n' "$ME" "$*" >&2; }
# log MESSAGE...: a progress line on stderr, with the seconds since start.
log() { printf '[%4ss] %s\n' "$((SECONDS - LIB_T0))" "$*" >&2; }
# usage FIRST LAST: the usage lines FIRST..LAST of the script's header; exit 2
usage_lines() {
    sed -n "$1,$2p" "$0" | sed 's/^# \{0,3\}//' >&2
    exit 2
}

# wait_until TIMEOUT_S STEP_S CMD...: run CMD (in this shell) every STEP_S
# seconds until it succeeds; 1 when TIMEOUT_S (whole seconds) passed first.
wait_until() {
    local end=$((${EPOCHREALTIME//[!0-9]/} + $1 * 1000000)) step=$2
    shift 2
    until "$@"; do
        ((${EPOCHREALTIME//[!0-9]/} < end)) || return 1
        sleep "$step"
    done
}

# --- processes, by PID and start time (never by name) ---------------------------
# proc_starttime PID: the start time (clock ticks since boot) of a live PID,
# empty when it is gone; a zombie counts as gone (PID 1 here may be slow to
# reap orphans). Guards against PID reuse.
proc_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    [[ $1 == [ZX] ]] || printf '%s' "${20}"
}
# same_proc PID START: PID still is the process that started at START
same_proc() {
    [[ -n ${1:-} && -n ${2:-} ]] || return 1
    [[ "$(proc_starttime "$1")" == "$2" ]]
}
proc_gone() { ! same_proc "$1" "$2"; }
# stop_proc PID START GRACE_S WHAT: SIGTERM, up to GRACE_S to end, then SIGKILL
stop_proc() {
    same_proc "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null || true
    if ! wait_until "$3" 0.1 proc_gone "$1" "$2"; then
        say "$4 $1 ignored SIGTERM for $3 s; sending SIGKILL"
        kill -KILL "$1" 2>/dev/null || true
    fi
}
# end_wrapper PID START GRACE_S: a `timeout` wrapper ends by itself once its
# child is gone; SIGTERM it when it has not within GRACE_S.
end_wrapper() {
    same_proc "$1" "$2" || return 0
    wait_until "$3" 0.1 proc_gone "$1" "$2" || kill -TERM "$1" 2>/dev/null || true
}

# --- the start scripts (systemd-user.sh, cron.sh) ---------------------------------
# skip REASON: this scheduler cannot run here (exit 3); STARTS names it.
skip() {
    say "cannot start $STARTS here: $*"
    exit "$EXIT_SKIP"
}
# The EXIT trap of `start`: a failed start undoes what it did (do_stop,
# defined by the script) and is a skip unless it was a usage error.
on_start_exit() {
    local rc=$?
    trap - EXIT ERR
    if [[ $rc != 0 ]]; then
        do_stop
        [[ $rc == 2 ]] || rc=$EXIT_SKIP
    fi
    exit "$rc"
}

# --- the suites (run.sh, smoke.sh) --------------------------------------------------
# nlines FILE: its line count, 0 when it does not exist
nlines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }
# has_lines FILE N: FILE has at least N lines
has_lines() { (($(nlines "$1") >= $2)); }
# result SUITE CHECK STATUS DETAIL: one line on stdout and in $RESULTS
result() {
    printf '%-5s %-8s %-28s %s\n' "$3" "$1" "$2" "$4" | tee -a "$RESULTS"
}
# count_results STATUS: how many results in $RESULTS have STATUS
count_results() { grep -c "^$1 " "$RESULTS" || true; }
# ensure_user USER: create the test user when missing; sets HOME_U
ensure_user() {
    id -u "$1" >/dev/null 2>&1 || useradd -m -s /bin/bash "$1"
    HOME_U=$(getent passwd "$1" | cut -d: -f6)
}
# install_cron_when_missing LOGFILE: apt-get install cron (Debian's package
# does not start the daemon when PID 1 is not systemd).
install_cron_when_missing() {
    [[ ! -x /usr/sbin/cron ]] && command -v apt-get >/dev/null || return 0
    log "installing cron (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends cron; } >"$1" 2>&1 ||
        log "apt-get install cron failed (see $1)"
}
