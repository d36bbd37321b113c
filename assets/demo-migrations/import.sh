#!/bin/sh
# A demo phase-2 step: imports "days" of sessions, newest first, and reports a
# checkpoint after each day so it resumes where it stopped.
#   import.sh DAYS    (resumes from $UPGRADE_CONSOLE_CHECKPOINT, the last day done)
days="${1:-30}"
done_days="${UPGRADE_CONSOLE_CHECKPOINT:-0}"
case "$done_days" in ''|*[!0-9]*) done_days=0 ;; esac
echo "{\"log\": \"search import: $days days, newest first, resuming after day $done_days\"}"
d=$done_days
while [ "$d" -lt "$days" ]; do
    d=$((d + 1))
    sleep 0.1
    pct=$((d * 100 / days))
    printf '{"progress": %d.%02d, "text": "sessions of day -%d imported"}\n' $((pct / 100)) $((pct % 100)) "$d"
    echo "{\"checkpoint\": \"$d\"}"
done
echo "{\"log\": \"search import complete\"}"
