#!/bin/sh
# count-and-run.sh FILE PROGRAM [ARGS...]: appends one line to FILE (a spawn counter), then
# runs PROGRAM in its place.
echo spawn >> "$1"
shift
exec "$@"
