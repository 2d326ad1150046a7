# Run with the kubectl plugin: its stdout, stderr and exit status become yours.
#   echo Ada | kubectl coderun run examples/greet.py -n demo -- --shout
import sys

name = sys.stdin.read().strip() or "World"
greeting = f"Hello, {name}!"
print(greeting.upper() if "--shout" in sys.argv[1:] else greeting)
print(f"python {sys.version.split()[0]}", file=sys.stderr)
