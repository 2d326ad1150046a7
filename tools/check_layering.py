#!/usr/bin/env python3
"""Fails when an #include crosses the layering that the CMake libraries declare.

Each line of --layers is "<folder>|<library>|<dependency libraries, comma-separated>", written by
coderun_layering_check() (cmake/CodeRunLibrary.cmake). A source file in <folder> may include
headers of its own folder and of the folders of its library's transitive dependencies.
Headers under a folder's testing/ subfolder (fakes, test servers) may be included only by
*_test.cc files and by other testing/ headers. Includes that resolve to no project file
(system and third-party headers) are not checked.

An include "a/b.h" is resolved against each folder's parent (controller folders include
"kube/client.h", top-level ones "api/report.h").

Usage: check_layering.py --root REPO --layers build/layers.txt
Exit 0 when the layering holds; 1 with one line per offending include otherwise.
"""

import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(path):
    layers = {}  # folder -> (library, [dependency libraries])
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            folder, library, deps = line.split("|")
            layers[folder] = (library, [d for d in deps.split(",") if d])
    return layers


def allowed_folders(layers):
    folder_of = {lib: folder for folder, (lib, _) in layers.items()}
    closure = {}

    def visit(folder, seen):
        if folder in closure:
            return closure[folder]
        if folder in seen:
            raise SystemExit(f"check_layering: dependency cycle through {folder}")
        seen = seen | {folder}
        out = {folder}
        for dep in layers[folder][1]:
            if dep not in folder_of:
                continue  # an external target
            out |= visit(folder_of[dep], seen)
        closure[folder] = out
        return out

    for folder in layers:
        visit(folder, set())
    return closure


def owner(path, folders):
    """The deepest layer folder holding `path` (relative to the root), or None."""
    best = None
    for folder in folders:
        if path == folder or path.startswith(folder + "/"):
            if best is None or len(folder) > len(best):
                best = folder
    return best


def is_testing(path):
    return "/testing/" in path


def check(root, layers):
    allowed = allowed_folders(layers)
    folders = list(layers)
    roots = sorted({os.path.dirname(f) for f in folders})
    problems = []
    for folder in sorted(folders):
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in sorted(names):
                if not name.endswith((".h", ".cc")):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                if owner(rel, folders) != folder:
                    continue  # a nested layer checks its own files
                test_file = name.endswith("_test.cc") or is_testing(rel)
                with open(full, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for match in INCLUDE.finditer(text):
                    target = None
                    for r in roots:
                        candidate = os.path.normpath(os.path.join(r, match.group(1)))
                        if os.path.isfile(os.path.join(root, candidate)):
                            target = candidate
                            break
                    if target is None:
                        continue
                    line = text.count("\n", 0, match.start()) + 1
                    where = f"{rel}:{line}: #include \"{match.group(1)}\""
                    layer = owner(target, folders)
                    if layer is None:
                        problems.append(f"{where}: not in any library folder")
                    elif layer not in allowed[folder]:
                        problems.append(
                            f"{where}: {folder} ({layers[folder][0]}) does not depend on "
                            f"{layer} ({layers[layer][0]})")
                    elif is_testing(target) and not test_file:
                        problems.append(f"{where}: only tests may include a testing/ header")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--layers", required=True)
    a = ap.parse_args()
    problems = check(a.root, read_layers(a.layers))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_layering: {len(problems)} include(s) break the layering "
              "(cmake/CodeRunLibrary.cmake)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
