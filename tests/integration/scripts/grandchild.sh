#!/bin/sh
# A function that starts a background grandchild and then hangs: exec_timeout must kill both.
# The grandchild's pid goes to the file named by the first argument.
sleep 30 &
echo $! > "$1"
sleep 30
