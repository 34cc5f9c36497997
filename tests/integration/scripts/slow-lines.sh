#!/bin/sh
# slow-lines.sh [MARKER]: creates MARKER (the function has started), waits half a second,
# then writes "line 1" .. "line 10", 200 ms apart: a streamed response still being written.
cat > /dev/null
[ -n "$1" ] && : > "$1"
sleep 0.5
i=1
while [ $i -le 10 ]; do
  echo "line $i"
  sleep 0.2
  i=$((i + 1))
done
