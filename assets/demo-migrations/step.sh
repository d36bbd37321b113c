#!/bin/sh
# A demo migration step speaking the progress protocol: JSON lines on stdout.
#   step.sh NAME TICKS [fail-at-tick]
# Writes a marker under $UPGRADE_CONSOLE_ROOT/var/lib/appliance/migrations/ so the
# migration leaves a visible trace in the appliance's data.
name="$1"; ticks="${2:-10}"; fail_at="${3:-0}"
root="${UPGRADE_CONSOLE_ROOT:-}"
echo "{\"log\": \"$name: starting ($ticks units)\"}"
i=0
while [ "$i" -lt "$ticks" ]; do
    i=$((i + 1))
    if [ "$fail_at" -gt 0 ] && [ "$i" -ge "$fail_at" ]; then
        echo "{\"log\": \"$name: unit $i failed: demo failure requested\"}"
        echo "$name: migration failed at unit $i" >&2
        exit 1
    fi
    sleep 0.1
    pct=$((i * 100 / ticks))
    printf '{"progress": %d.%02d, "text": "%s: %d of %d"}\n' $((pct / 100)) $((pct % 100)) "$name" "$i" "$ticks"
done
if [ -n "$root" ]; then
    mkdir -p "$root/var/lib/appliance/migrations"
    echo "$name done" > "$root/var/lib/appliance/migrations/$(echo "$name" | tr ' /' '__').done"
fi
echo "{\"log\": \"$name: done\"}"
