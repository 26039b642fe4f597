#!/usr/bin/env python3
"""Validates YARN service specs for Spate.

Usage: check-spec.py [SPEC.json...]     (default: spate-service.json beside this file)

Each spec is checked against yarn-service.schema.json (written from the YARN
Services API documentation) and then for what a schema cannot say: unique
component names, dependencies that name components and form no cycle, and the
Spate topology (a single coordinator; workers that depend on it, reach it through
${COORDINATOR-0_HOST}, announce their own IP, and offer --cores equal to their
vcores; the profile mounted where SPATE_PROFILE_FILE says).
Before that, the schema must reject a set of broken variants of the spec, so a
schema that accepts everything cannot pass. Needs the jsonschema package.
Prints one line per error with its JSON path; exits 1 on any error.
"""

import copy
import json
import re
import sys
from pathlib import Path

import jsonschema

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "yarn-service.schema.json"


def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(v, spec):
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(v.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))]


def components(spec):
    return {c["name"]: c for c in spec.get("components", [])}


def topology_errors(spec):
    errors = []
    names = [c["name"] for c in spec["components"]]
    comps = components(spec)
    if len(names) != len(set(names)):
        errors.append(f"components: names are not unique: {names}")
    for c in spec["components"]:
        for d in c.get("dependencies", []):
            if d not in comps:
                errors.append(f"components/{c['name']}/dependencies: `{d}` is no component")
    errors += cycle_errors(comps)
    coord, worker = comps.get("coordinator"), comps.get("worker")
    if coord is None or worker is None:
        return errors + ["components: Spate needs a `coordinator` and a `worker` component"]
    if coord.get("number_of_containers", 1) != 1:
        errors.append("components/coordinator/number_of_containers: must be 1 (one coordinator per cluster)")
    if "coordinator" not in worker.get("dependencies", []):
        errors.append("components/worker/dependencies: must include `coordinator`, so workers start after it")
    cmd = worker.get("launch_command", "").split()
    if cmd[:2] != ["spate", "worker"]:
        errors.append(f"components/worker/launch_command: `{' '.join(cmd)}` does not run `spate worker`")
    if not re.fullmatch(r"\$\{COORDINATOR-0_HOST\}:\d+", flag(cmd, "--coordinator") or ""):
        errors.append("components/worker/launch_command: --coordinator must be ${COORDINATOR-0_HOST}:PORT")
    if flag(cmd, "--data-host") is None:
        errors.append("components/worker/launch_command: --data-host is missing (workers must announce their IP)")
    cores = flag(cmd, "--cores")
    vcores = worker.get("resource", {}).get("cpus")
    if cores is None or not cores.isdigit() or int(cores) != vcores:
        errors.append(f"components/worker: --cores {cores} must equal resource.cpus {vcores}")
    if coord.get("launch_command", "").split()[:2] != ["spate", "coordinator"]:
        errors.append("components/coordinator/launch_command: does not run `spate coordinator`")
    conf = spec.get("configuration", {})
    profile = conf.get("env", {}).get("SPATE_PROFILE_FILE")
    if profile not in [f.get("dest_file") for f in conf.get("files", [])]:
        errors.append(f"configuration: no file is mounted at SPATE_PROFILE_FILE ({profile})")
    return errors


def flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def cycle_errors(comps):
    state = {}

    def visit(name, path):
        if state.get(name) == "done" or name not in comps:
            return []
        if state.get(name) == "open":
            return [f"components: dependency cycle {' -> '.join(path + [name])}"]
        state[name] = "open"
        found = []
        for d in comps[name].get("dependencies", []):
            found += visit(d, path + [name])
        state[name] = "done"
        return found

    return [e for n in comps for e in visit(n, [])]


def broken_variants(spec):
    """Specs the schema must reject, each with what is wrong with it."""
    def variant(why, change):
        s = copy.deepcopy(spec)
        change(s)
        return why, s

    def worker(s):
        return components(s)["worker"]

    return [
        variant("restart policy outside the enum", lambda s: worker(s).update(restart_policy="SOMETIMES")),
        variant("misspelt field", lambda s: worker(s).update(restartPolicy="ALWAYS")),
        variant("memory with a unit", lambda s: worker(s)["resource"].update(memory="4G")),
        variant("cpus as a string", lambda s: worker(s)["resource"].update(cpus="2")),
        variant("no version", lambda s: s.pop("version")),
        variant("upper-case service name", lambda s: s.update(name="Spate")),
        variant("unknown artifact type", lambda s: s["artifact"].update(type="OCI")),
        variant("STATIC file without src_file", lambda s: s["configuration"]["files"][0].pop("src_file")),
        variant("HTTP check without url", lambda s: components(s)["coordinator"]["readiness_check"].update(properties={})),
        variant("negative container count", lambda s: worker(s).update(number_of_containers=-1)),
        variant("read-only field", lambda s: s.update(state="STARTED")),
    ]


def self_test(v, spec, path):
    errors = []
    for why, s in broken_variants(spec):
        if not schema_errors(v, s):
            errors.append(f"{path}: the schema accepts a broken spec ({why})")
    return errors


def main(argv):
    paths = argv or [str(HERE / "spate-service.json")]
    v = validator()
    errors = []
    for path in paths:
        try:
            spec = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            errors.append(f"{path}: cannot read JSON: {e}")
            continue
        found = [f"{path}: {e}" for e in schema_errors(v, spec)]
        if not found:
            found = [f"{path}: {e}" for e in topology_errors(spec)]
            found += self_test(v, spec, path)
        if found:
            errors += found
        else:
            print(f"{path}: YARN service schema, topology and schema self-test: ok")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
