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

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
readonly CRON_BIN=${E2E_CRON_BIN:-/usr/sbin/cron}
readonly CRON_TIMEOUT=${E2E_CRON_TIMEOUT:-1800}
CRON_PIDFILE=/var/run/crond.pid # compiled into Debian's cron
readonly STARTS=cron

usage() { usage_lines 5 6; }

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
    stop_proc "$CRON_PID" "$CRON_STARTTIME" 5 cron
    end_wrapper "$TIMEOUT_PID" "$TIMEOUT_STARTTIME" 2
    # Remove the pidfile only if it is the one our cron wrote.
    if [[ -n $CRON_PID && -f $CRON_PIDFILE ]] &&
        [[ "$(tr -d ' \n' <"$CRON_PIDFILE" 2>/dev/null)" == "$CRON_PID" ]]; then
        rm -f -- "$CRON_PIDFILE"
    fi
    [[ -n $STATEDIR ]] && rm -f -- "$STATEDIR/cron.pid"
    [[ -n $ENVFILE ]] && rm -f -- "$ENVFILE" "$ENVFILE.tmp"
    return 0
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
    cron_up() {
        if [[ -z $CRON_PID && -s $pidfile ]]; then
            CRON_PID=$(<"$pidfile")
            CRON_STARTTIME=$(proc_starttime "$CRON_PID")
            save_env
        fi
        if [[ -n $CRON_PID && -s $CRON_PIDFILE ]] &&
            [[ "$(tr -d ' \n' <"$CRON_PIDFILE")" == "$CRON_PID" ]]; then
            return 0
        fi
        if ! same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME"; then
            tail -n 20 "$CRON_LOG" >&2 || true
            skip "cron exited during startup"
        fi
        return 1
    }
    wait_until 10 0.1 cron_up || skip "cron did not write $CRON_PIDFILE within 10 s"
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
