#!/bin/sh
# The seed's entrypoint, kept for `docker run --rm IMAGE 'print("Hello World")'`:
# runs its first argument as a Python program. The controller does not use it: its Pods
# override the command with /usr/local/bin/coderun-runner.
if [ -z "$1" ]; then
  echo "No Python code provided"
  exit 1
fi
exec python3 -c "$1"
