#!/usr/bin/env python3
"""Structural checks of deploy/docker/Dockerfile that hadolint does not make.

Usage: check-dockerfile.py [DOCKERFILE]

Checks: a multi-stage build; every base image pinned to an exact version (no
`latest`, no bare name); the builder installs libclang-dev and builds `spate` in
release; the runtime stage copies only the binary and the profiles, runs as a
non-root user, exposes 6123 and 8081, and its entrypoint runs `spate`.
Prints one line per failed check with the line number, and exits 1 if any failed.
"""

import json
import re
import sys
from pathlib import Path


def instructions(text):
    """Yields (line number, INSTRUCTION, arguments), joining continuation lines."""
    start, parts = None, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not parts and (not line or line.startswith("#")):
            continue
        if parts and line.startswith("#"):
            continue
        if start is None:
            start = number
        parts.append(line[:-1] if line.endswith("\\") else line)
        if not line.endswith("\\"):
            joined = " ".join(p.strip() for p in parts)
            word, _, rest = joined.partition(" ")
            yield start, word.upper(), rest.strip()
            start, parts = None, []


def pinned(image):
    """An image reference pinned to an exact version: name:tag with a digit, or a digest."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and re.search(r"\d", tag) is not None


def check(path):
    text = Path(path).read_text(encoding="utf-8")
    errors = []
    args = {}
    stages = []  # (line, image, alias, [(line, instr, rest)])
    for line, instr, rest in instructions(text):
        if instr == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif instr == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            image = words[0]
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append((line, image, alias, []))
        elif stages:
            stages[-1][3].append((line, instr, rest))
        else:
            errors.append(f"{path}:{line}: {instr} before the first FROM")

    if len(stages) < 2:
        errors.append(f"{path}: not a multi-stage build ({len(stages)} FROM)")
        return errors
    aliases = {s[2] for s in stages if s[2]}
    for line, image, _, _ in stages:
        if image in aliases:
            continue
        match = re.fullmatch(r"\$\{?(\w+)\}?", image)
        resolved = args.get(match.group(1), "") if match else image
        if not pinned(resolved):
            errors.append(f"{path}:{line}: base image `{resolved or image}` is not pinned to an exact version")

    builder = stages[0][3]
    run_text = " ".join(rest for _, instr, rest in builder if instr == "RUN")
    if "libclang-dev" not in run_text:
        errors.append(f"{path}:{stages[0][0]}: the builder stage does not install libclang-dev")
    if not re.search(r"cargo build\b[^&;]*--release[^&;]*-p spate-cli", run_text):
        errors.append(f"{path}:{stages[0][0]}: the builder stage does not run `cargo build --release ... -p spate-cli`")

    line0, _, _, runtime = stages[-1]
    users = [(line, rest) for line, instr, rest in runtime if instr == "USER"]
    if not users:
        errors.append(f"{path}:{line0}: the runtime stage sets no USER (it would run as root)")
    else:
        line, user = users[-1]
        name = user.split(":")[0]
        if name in ("root", "0"):
            errors.append(f"{path}:{line}: the runtime stage runs as root (`USER {user}`)")
    copies = [(line, rest) for line, instr, rest in runtime if instr in ("COPY", "ADD")]
    for line, rest in copies:
        sources = [w for w in rest.split() if not w.startswith("--")][:-1]
        from_builder = "--from=" in rest
        if from_builder and sources != ["/out/spate"]:
            errors.append(f"{path}:{line}: the runtime stage copies more than the binary from the builder: {sources}")
        if not from_builder and not all(s.startswith("deploy/profiles") for s in sources):
            errors.append(f"{path}:{line}: the runtime stage copies {sources}; only the binary and deploy/profiles belong there")
    if not any("--from=" in rest for _, rest in copies):
        errors.append(f"{path}:{line0}: the runtime stage does not copy the binary from the builder")
    exposed = {p.split("/")[0] for _, instr, rest in runtime if instr == "EXPOSE" for p in rest.split()}
    for port in ("6123", "8081"):
        if port not in exposed:
            errors.append(f"{path}:{line0}: the runtime stage does not expose port {port}")
    entry = [(line, rest) for line, instr, rest in runtime if instr == "ENTRYPOINT"]
    if not entry:
        errors.append(f"{path}:{line0}: the runtime stage has no ENTRYPOINT")
    else:
        line, rest = entry[-1]
        try:
            argv = json.loads(rest)
        except json.JSONDecodeError as e:
            errors.append(f"{path}:{line}: ENTRYPOINT is not in exec (JSON) form: {e}")
        else:
            if not argv or argv[-1] != "spate":
                errors.append(f"{path}:{line}: ENTRYPOINT {argv} does not end in `spate`")
    return errors


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("Dockerfile"))
    errors = check(path)
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f"{path}: multi-stage, pinned bases, non-root, entrypoint spate: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
