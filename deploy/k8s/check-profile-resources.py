#!/usr/bin/env python3
"""Checks rendered Spate manifests against the profile they carry.

Usage: check-profile-resources.py [--spate BIN] RENDERED.yaml...

RENDERED.yaml is the output of `kubectl kustomize` for the base or an overlay.
For each it checks that
  - the spate-profile ConfigMap's profile.toml is identical to
    deploy/profiles/<its spate.dev/profile label>.toml (and, with --spate, that
    `spate config explain --profile` accepts it);
  - the worker's cpu is its --cores, requests = limits (Guaranteed QoS);
  - the worker's memory is 256Mi + cores x (256Mi + state per core), where state
    per core is the RocksDB block cache + 2 x write buffer for the rocksdb backend,
    or the StatefulSet's spate.dev/heap-state-mib-per-core annotation for heap;
  - the coordinator probes /healthz (liveness) and /readyz (readiness), the
    worker gets --data-host from the pod IP, and both mount the profile.
Prints one line per failure naming the file, the object and the field; exits 1.
Needs PyYAML (installed with kubernetes-validate).
"""

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
PROCESS_BASE_MIB = 256
RUNTIME_PER_CORE_MIB = 256
PROFILE_MOUNT = "/etc/spate/profile"
ROCKSDB_DEFAULTS = {"rocksdb_block_cache_mib": 256, "rocksdb_write_buffer_mib": 64}


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    raise ValueError(f"memory `{quantity}` is not in Ki/Mi/Gi/Ti")


def cores(quantity):
    q = str(quantity)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def find(docs, kind, name):
    for d in docs:
        if d and d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    return None


def arg_after(args, flag):
    return args[args.index(flag) + 1] if flag in args[:-1] else None


class Checker:
    def __init__(self, path, spate):
        self.path, self.spate, self.errors = path, spate, []

    def fail(self, where, message):
        self.errors.append(f"{self.path}: {where}: {message}")

    def run(self):
        docs = list(yaml.safe_load_all(Path(self.path).read_text(encoding="utf-8")))
        profile = self.check_configmap(find(docs, "ConfigMap", "spate-profile"))
        self.check_worker(find(docs, "StatefulSet", "spate-worker"), profile)
        self.check_coordinator(find(docs, "Deployment", "spate-coordinator"))
        return self.errors

    def check_configmap(self, cm):
        if cm is None:
            self.fail("ConfigMap/spate-profile", "missing")
            return None
        name = cm["metadata"].get("labels", {}).get("spate.dev/profile")
        text = cm.get("data", {}).get("profile.toml")
        where = "ConfigMap/spate-profile"
        if name is None or text is None:
            self.fail(where, "needs the label spate.dev/profile and the key data.profile.toml")
            return None
        source = PROFILES / f"{name}.toml"
        if not source.is_file():
            self.fail(where, f"label spate.dev/profile={name} names no file in {PROFILES}")
            return None
        if text != source.read_text(encoding="utf-8"):
            self.fail(where, f"data.profile.toml differs from {source}; copy the file again")
        try:
            profile = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            self.fail(where, f"data.profile.toml is not TOML: {e}")
            return None
        if self.spate:
            self.explain(where, text)
        return profile

    def explain(self, where, text):
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            r = subprocess.run([self.spate, "config", "explain", "--profile", f.name],
                               capture_output=True, text=True, check=False)
        if r.returncode != 0:
            self.fail(where, f"`spate config explain` rejects data.profile.toml: {r.stderr.strip()}")

    def state_mib_per_core(self, sts, profile):
        state = (profile or {}).get("state", {})
        if state.get("backend", "heap") == "rocksdb":
            s = {**ROCKSDB_DEFAULTS, **state}
            return s["rocksdb_block_cache_mib"] + 2 * s["rocksdb_write_buffer_mib"], "rocksdb"
        note = sts["metadata"].get("annotations", {}).get("spate.dev/heap-state-mib-per-core")
        if note is None:
            self.fail("StatefulSet/spate-worker", "heap backend: annotation spate.dev/heap-state-mib-per-core is missing")
            return None, "heap"
        return int(note), "heap"

    def check_worker(self, sts, profile):
        where = "StatefulSet/spate-worker"
        if sts is None:
            self.fail(where, "missing")
            return
        pod = sts["spec"]["template"]["spec"]
        c = next((c for c in pod["containers"] if c["name"] == "worker"), None)
        if c is None:
            self.fail(where, "no container named worker")
            return
        args = [str(a) for a in c.get("args", [])]
        n = arg_after(args, "--cores")
        if args[:1] != ["worker"] or n is None or arg_after(args, "--coordinator") is None:
            self.fail(where, f"args {args} are not `worker --coordinator HOST:PORT --cores N ...`")
            return
        if arg_after(args, "--data-host") != "$(POD_IP)":
            self.fail(where, "args need `--data-host $(POD_IP)`")
        env = {e["name"]: e for e in c.get("env", [])}
        pod_ip = env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if pod_ip != "status.podIP":
            self.fail(where, "env POD_IP must come from fieldRef status.podIP")
        res = c.get("resources", {})
        req, lim = res.get("requests", {}), res.get("limits", {})
        for key in ("cpu", "memory"):
            if key not in req or str(req.get(key)) != str(lim.get(key)):
                self.fail(where, f"resources.requests.{key} ({req.get(key)}) must equal limits.{key} ({lim.get(key)})")
        if "cpu" in lim and cores(lim["cpu"]) != int(n):
            self.fail(where, f"resources.limits.cpu is {lim['cpu']} but the worker offers --cores {n}")
        per_core, backend = self.state_mib_per_core(sts, profile)
        if per_core is not None and "memory" in lim:
            want = PROCESS_BASE_MIB + int(n) * (RUNTIME_PER_CORE_MIB + per_core)
            have = mebibytes(str(lim["memory"]))
            if have != want:
                self.fail(where, f"resources.limits.memory is {lim['memory']}, the {backend} profile needs "
                          f"{PROCESS_BASE_MIB} + {n} x ({RUNTIME_PER_CORE_MIB} + {per_core}) = {want}Mi")
        self.check_mount(where, c)

    def check_coordinator(self, dep):
        where = "Deployment/spate-coordinator"
        if dep is None:
            self.fail(where, "missing")
            return
        c = dep["spec"]["template"]["spec"]["containers"][0]
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            got = c.get(probe, {}).get("httpGet", {}).get("path")
            if got != path:
                self.fail(where, f"{probe}.httpGet.path is {got}, expected {path}")
        self.check_mount(where, c)

    def check_mount(self, where, container):
        if not any(m.get("mountPath") == PROFILE_MOUNT for m in container.get("volumeMounts", [])):
            self.fail(where, f"does not mount the profile at {PROFILE_MOUNT}")


def main(argv):
    spate = None
    if argv[:1] == ["--spate"]:
        spate, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__)
        return 2
    errors = []
    for path in argv:
        found = Checker(path, spate).run()
        errors += found
        if not found:
            print(f"{path}: profile, resources and probes: ok")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
