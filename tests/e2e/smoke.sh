#!/usr/bin/env bash
# Self-test of systemd-user.sh and cron.sh against the REAL schedulers.
#
#   smoke.sh            (as root; prints one PASS/SKIP/FAIL line per part)
#
# Parts: systemd-start, systemd-timer (2 firings of OnActiveSec=1s +
# OnUnitInactiveSec=10s), systemd-append (StandardOutput=append:),
# systemd-hardening (ProtectSystem=strict, PrivateTmp, NoNewPrivileges,
# ProtectHome=read-only, ReadWritePaths=), systemd-hardening-privusers (same
# plus PrivateUsers=yes), cron (a `* * * * *` crontab fires; the cron wait
# overlaps the systemd parts). Exit 1 if any part FAILs; SKIPs are fine
# unless E2E_SMOKE_STRICT=1. E2E_SMOKE_USER (default sfe2e), E2E_KEEP=1 keeps
# the state dir. Installs the cron package if /usr/sbin/cron is missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
readonly U=${E2E_SMOKE_USER:-sfe2e}
readonly SD="$HERE/systemd-user.sh" CRON="$HERE/cron.sh"
STATE=$(mktemp -d /tmp/syncfleet-e2e-smoke.XXXXXX)
readonly STATE RESULTS=$STATE/results
: >"$RESULTS"

SD_UP=0 CRON_UP=0 CRONTAB_SAVED='' CRONTAB_INSTALLED=0 UNIT_DIR='' OUT=''

asu() { "$SD" as-user "$STATE" -- "$@"; }
sctl() { asu systemctl --user "$@"; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ $SD_UP == 1 ]]; then
        sctl disable --now smoke-tick.timer >/dev/null 2>&1
        "$SD" stop "$STATE"
    fi
    [[ -n $UNIT_DIR ]] && rm -f "$UNIT_DIR"/smoke-*.service "$UNIT_DIR"/smoke-*.timer
    if [[ $CRONTAB_INSTALLED == 1 ]]; then
        if [[ -n $CRONTAB_SAVED ]]; then
            crontab -u "$U" "$CRONTAB_SAVED"
        else
            crontab -u "$U" -r 2>/dev/null
        fi
    fi
    [[ $CRON_UP == 1 ]] && "$CRON" stop "$STATE"
    [[ -n $OUT ]] && rm -rf "$OUT"
    if [[ ${E2E_KEEP:-0} == 1 ]]; then log "state kept in $STATE"; else rm -rf "$STATE"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# "+1.0s +12.1s ..." : the epoch timestamps in FILE relative to $2
rel_times() { awk -v t0="$2" '{ printf "+%.1fs ", $1 - t0 }' "$1"; }

[[ $(id -u) == 0 ]] || { echo "smoke.sh must run as root" >&2; exit 2; }

# --- cron: start early, its first firing needs up to a minute -------------------
CRON_PENDING=0 CRON_T0=''
install_cron_when_missing "$STATE/apt.log"
ensure_user "$U"
OUT=$HOME_U/e2e-smoke
rm -rf "$OUT"
install -d -o "$U" -g "$(id -g "$U")" "$OUT"

set +e
"$CRON" start "$STATE"
rc=$?
set -e
if [[ $rc == 0 ]]; then
    CRON_UP=1
    CRONTAB_SAVED=''
    if crontab -u "$U" -l >"$STATE/crontab.saved" 2>/dev/null; then
        CRONTAB_SAVED=$STATE/crontab.saved
    fi
    CRONTAB_INSTALLED=1
    printf '* * * * * date +\\%%s >> %s/cron.ticks\n' "$OUT" | crontab -u "$U" -
    CRON_T0=$(date +%s)
    CRON_PENDING=1
    log "cron started, crontab installed for $U"
else
    result smoke cron SKIP "cron.sh start exited $rc"
fi

# --- systemd user manager ----------------------------------------------------------
set +e
t=$SECONDS
"$SD" start "$U" "$STATE"
rc=$?
set -e
if [[ $rc != 0 ]]; then
    for p in systemd-start systemd-timer systemd-append systemd-hardening systemd-hardening-privusers; do
        if [[ $rc == 3 ]]; then result smoke "$p" SKIP "systemd-user.sh start exited 3"; else result smoke "$p" FAIL "systemd-user.sh start exited $rc"; fi
    done
else
    SD_UP=1
    result smoke systemd-start PASS "manager up in $((SECONDS - t))s, version $(sctl show -p Version --value)"
    UNIT_DIR=$HOME_U/.config/systemd/user
    asu mkdir -p "$UNIT_DIR"

    # timer --------------------------------------------------------------------
    cat >"$UNIT_DIR/smoke-tick.service" <<EOF
[Unit]
Description=syncfleet e2e smoke tick
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'date +%%s.%%N >> $OUT/ticks'
EOF
    cat >"$UNIT_DIR/smoke-tick.timer" <<'EOF'
[Unit]
Description=syncfleet e2e smoke tick timer
[Timer]
OnActiveSec=1s
OnUnitInactiveSec=10s
AccuracySec=1s
[Install]
WantedBy=timers.target
EOF
    # append -------------------------------------------------------------------
    cat >"$UNIT_DIR/smoke-append.service" <<EOF
[Service]
Type=oneshot
ExecStart=/bin/echo appended-line
StandardOutput=append:$OUT/append.log
StandardError=append:$OUT/append.log
EOF
    # hardening (exactly the directives syncfleet wants), and + PrivateUsers ---
    for v in hard hardpu; do
        extra=''
        [[ $v == hardpu ]] && extra='PrivateUsers=yes'
        cat >"$UNIT_DIR/smoke-$v.service" <<EOF
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo ran >$OUT/$v.ran; touch $HOME_U/$v.home 2>/dev/null && echo home-writable >>$OUT/$v.ran; touch /tmp/smoke-$v.tmp'
ProtectSystem=strict
PrivateTmp=true
NoNewPrivileges=true
ProtectHome=read-only
ReadWritePaths=$OUT
$extra
EOF
    done
    chown -R "$U:" "$UNIT_DIR"
    sctl daemon-reload

    tt0=$(date +%s.%N)
    sctl enable --now smoke-tick.timer 2>/dev/null
    if ! en=$(sctl is-enabled smoke-tick.timer) || ! ac=$(sctl is-active smoke-tick.timer); then
        result smoke systemd-timer FAIL "timer not enabled/active (is-enabled=$en is-active=${ac:-?})"
    elif wait_until 40 0.2 has_lines "$OUT/ticks" 2; then
        result smoke systemd-timer PASS "fired at $(rel_times "$OUT/ticks" "$tt0")after enable --now"
    else
        result smoke systemd-timer FAIL "$(nlines "$OUT/ticks") firing(s) in 40s; $(sctl list-timers --all --no-pager 2>&1 | head -3 | tr '\n' ' ')"
    fi
    sctl disable --now smoke-tick.timer 2>/dev/null
    st=$(sctl is-enabled smoke-tick.timer 2>/dev/null || true)
    [[ $st == disabled ]] || result smoke systemd-timer-disable FAIL "is-enabled after disable: $st"

    # append
    { sctl start smoke-append.service; sctl start smoke-append.service; } || true
    if [[ $(nlines "$OUT/append.log") == 2 ]]; then
        result smoke systemd-append PASS "StandardOutput=append: works (2 runs -> 2 lines)"
    else
        result smoke systemd-append FAIL "append.log has $(nlines "$OUT/append.log") lines after 2 runs"
    fi

    # hardening
    for v in hard hardpu; do
        name=systemd-hardening
        [[ $v == hardpu ]] && name=systemd-hardening-privusers
        rm -f "/tmp/smoke-$v.tmp" "$HOME_U/$v.home"
        sctl start "smoke-$v.service" 2>/dev/null || true
        res=$(sctl show "smoke-$v.service" -p Result --value)
        code=$(sctl show "smoke-$v.service" -p ExecMainStatus --value)
        if [[ $res == success && -f $OUT/$v.ran ]]; then
            if grep -q home-writable "$OUT/$v.ran" || [[ -e /tmp/smoke-$v.tmp ]]; then
                enf="sandbox NOT enforced (home writable/tmp shared: silently ignored)"
            else
                enf="sandbox enforced (home read-only, private /tmp, ReadWritePaths writable)"
            fi
            result smoke "$name" PASS "runs (exit 0); $enf"
        else
            result smoke "$name" FAIL "Result=$res ExecMainStatus=$code (218=CAPABILITIES 226=NAMESPACE); see $STATE/systemd.log"
        fi
        rm -f "/tmp/smoke-$v.tmp" "$HOME_U/$v.home"
    done

    sctl daemon-reload
    t=$SECONDS
    "$SD" stop "$STATE"
    SD_UP=0
    log "systemd manager stopped in $((SECONDS - t))s"
fi

# --- cron: wait for the first firing -------------------------------------------
if [[ $CRON_PENDING == 1 ]]; then
    left=$((130 - ($(date +%s) - CRON_T0)))
    ((left > 0)) || left=1
    log "waiting up to ${left}s for cron"
    if wait_until "$left" 0.2 has_lines "$OUT/cron.ticks" 1; then
        result smoke cron PASS "fired $(($(head -n1 "$OUT/cron.ticks") - CRON_T0))s after crontab install"
    else
        result smoke cron FAIL "no firing within 130s"
    fi
    if [[ -n $CRONTAB_SAVED ]]; then crontab -u "$U" "$CRONTAB_SAVED"; else crontab -u "$U" -r; fi
    CRONTAB_INSTALLED=0
    "$CRON" stop "$STATE"
    CRON_UP=0
fi

FAILS=$(count_results FAIL) SKIPS=$(count_results SKIP)
log "done: $FAILS FAIL, $SKIPS SKIP"
if ((FAILS > 0)) || { [[ ${E2E_SMOKE_STRICT:-0} == 1 ]] && ((SKIPS > 0)); }; then
    exit 1
fi
exit 0
