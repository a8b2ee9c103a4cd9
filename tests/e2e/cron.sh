#!/usr/bin/env bash
# Start / stop a REAL cron daemon (Debian `cron`, /usr/sbin/cron) for
# end-to-end tests on a machine where nothing else starts it.
#
#   cron.sh start <statedir>
#   cron.sh stop  <statedir>
#
# Exit codes: 0 ok, 2 usage error, 3 "cannot run here, skip" (start only).
# Installs nothing: the caller must `apt-get install -y --no-install-recommends
# cron` (the package does not start the daemon when PID 1 is not systemd).
# `start` writes <statedir>/cron.env (shell-sourceable) and <statedir>/cron.log
# (cron's own stdout/stderr; cron logs to syslog, so this is usually empty).
# Tunables (env): E2E_CRON_TIMEOUT (s, default 1800).
# shellcheck disable=SC2034 # state variables are saved indirectly (${!v})
set -euo pipefail

readonly EXIT_SKIP=3
readonly CRON_BIN=${E2E_CRON_BIN:-/usr/sbin/cron}
readonly CRON_TIMEOUT=${E2E_CRON_TIMEOUT:-1800}
CRON_PIDFILE=/var/run/crond.pid # compiled into Debian's cron
readonly ME=${0##*/}

say() { printf '%s: %s\n' "$ME" "$*" >&2; }
usage() {
    sed -n '5,6p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 2
}
skip() {
    say "cannot start cron here: $*"
    exit "$EXIT_SKIP"
}

# starttime of a live (non-zombie) PID, empty if gone; guards PID reuse.
proc_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    [[ $1 == [ZX] ]] || printf '%s' "${20}"
}
same_proc() {
    [[ -n ${1:-} && -n ${2:-} ]] || return 1
    [[ "$(proc_starttime "$1")" == "$2" ]]
}
# PIDs of running processes whose executable is the cron binary.
running_crons() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [[ $exe == "$CRON_BIN" ]] && printf '%s ' "${p#/proc/}"
    done
    return 0
}

CRON_PID='' CRON_STARTTIME='' TIMEOUT_PID='' TIMEOUT_STARTTIME='' CRON_LOG=''
STATEDIR='' ENVFILE=''

save_env() {
    local v
    {
        echo "# written by $ME start; consumed by '$ME stop'"
        for v in CRON_PID CRON_STARTTIME TIMEOUT_PID TIMEOUT_STARTTIME CRON_PIDFILE CRON_LOG; do
            printf '%s=%q\n' "$v" "${!v}"
        done
    } >"$ENVFILE.tmp"
    mv -f "$ENVFILE.tmp" "$ENVFILE"
}

do_stop() {
    local i
    if same_proc "$CRON_PID" "$CRON_STARTTIME"; then
        kill -TERM "$CRON_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            same_proc "$CRON_PID" "$CRON_STARTTIME" || break
            sleep 0.1
        done
        if same_proc "$CRON_PID" "$CRON_STARTTIME"; then
            say "cron $CRON_PID ignored SIGTERM for 5 s; sending SIGKILL"
            kill -KILL "$CRON_PID" 2>/dev/null || true
        fi
    fi
    if same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME"; then
        for ((i = 0; i < 20; i++)); do
            same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME" || break
            sleep 0.1
        done
        if same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME"; then
            kill -TERM "$TIMEOUT_PID" 2>/dev/null || true
        fi
    fi
    # Remove the pidfile only if it is the one our cron wrote.
    if [[ -n $CRON_PID && -f $CRON_PIDFILE ]] &&
        [[ "$(tr -d ' \n' <"$CRON_PIDFILE" 2>/dev/null)" == "$CRON_PID" ]]; then
        rm -f -- "$CRON_PIDFILE"
    fi
    [[ -n $STATEDIR ]] && rm -f -- "$STATEDIR/cron.pid"
    [[ -n $ENVFILE ]] && rm -f -- "$ENVFILE" "$ENVFILE.tmp"
    return 0
}

on_start_exit() {
    local rc=$?
    trap - EXIT ERR
    if [[ $rc != 0 ]]; then
        do_stop
        [[ $rc == 2 ]] || rc=$EXIT_SKIP
    fi
    exit "$rc"
}

cmd_start() {
    [[ $# -eq 1 ]] || usage
    [[ $(id -u) == 0 ]] || skip "must run as root"
    [[ -x $CRON_BIN ]] ||
        skip "$CRON_BIN not found (apt-get install -y --no-install-recommends cron)"
    command -v timeout >/dev/null || skip "timeout not found"
    mkdir -p "$1"
    STATEDIR=$(cd "$1" && pwd)
    ENVFILE=$STATEDIR/cron.env
    if [[ -f $ENVFILE ]]; then
        say "$ENVFILE exists: stopping the previous instance first"
        (
            # shellcheck disable=SC1090
            . "$ENVFILE" && do_stop
        ) || true
    fi

    local others otherpid=''
    others=$(running_crons)
    [[ -z $others ]] || skip "another cron is already running (pid ${others% }); not touching it"
    if [[ -e $CRON_PIDFILE ]]; then
        otherpid=$(tr -d ' \n' <"$CRON_PIDFILE" 2>/dev/null || true)
        if [[ $otherpid =~ ^[0-9]+$ ]] && [[ -n "$(proc_starttime "$otherpid")" ]] &&
            [[ "$(cat "/proc/$otherpid/comm" 2>/dev/null)" == cron ]]; then
            skip "$CRON_PIDFILE names a running cron (pid $otherpid); not touching it"
        fi
        say "removing stale $CRON_PIDFILE (pid '${otherpid}' is not a running cron)"
        rm -f -- "$CRON_PIDFILE"
    fi

    trap on_start_exit EXIT
    trap 'exit 130' INT TERM
    trap 'say "failed (line $LINENO): $BASH_COMMAND"' ERR

    CRON_LOG=$STATEDIR/cron.log
    : >"$CRON_LOG"
    local pidfile=$STATEDIR/cron.pid
    rm -f -- "$pidfile"
    # shellcheck disable=SC2016 # expanded by the inner sh
    (cd / && exec timeout --kill-after=10 "$CRON_TIMEOUT" \
        sh -c 'echo $$ >"$1"; exec "$2" -f' sh "$pidfile" "$CRON_BIN") \
        </dev/null >>"$CRON_LOG" 2>&1 &
    TIMEOUT_PID=$!
    TIMEOUT_STARTTIME=$(proc_starttime "$TIMEOUT_PID")
    save_env

    # Up when cron has written (and locked) its pidfile with our PID.
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -z $CRON_PID && -s $pidfile ]]; then
            CRON_PID=$(<"$pidfile")
            CRON_STARTTIME=$(proc_starttime "$CRON_PID")
            save_env
        fi
        if [[ -n $CRON_PID && -s $CRON_PIDFILE ]] &&
            [[ "$(tr -d ' \n' <"$CRON_PIDFILE")" == "$CRON_PID" ]]; then
            break
        fi
        if ! same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME"; then
            tail -n 20 "$CRON_LOG" >&2 || true
            skip "cron exited during startup"
        fi
        sleep 0.1
    done
    ((i < 100)) || skip "cron did not write $CRON_PIDFILE within 10 s"
    rm -f -- "$pidfile"
    same_proc "$CRON_PID" "$CRON_STARTTIME" || skip "cron exited during startup"
    trap - EXIT INT TERM ERR
    say "cron running, pid $CRON_PID (stop with: $0 stop $STATEDIR)"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop)
    shift
    [[ $# -eq 1 ]] || usage
    STATEDIR=$1
    ENVFILE=$STATEDIR/cron.env
    if [[ -f $ENVFILE ]]; then
        # shellcheck disable=SC1090
        . "$ENVFILE"
        do_stop
    else
        say "nothing to stop in $STATEDIR"
    fi
    ;;
*) usage ;;
esac
