"""The shipped deployment files keep least privilege, and their settings are
ones the binaries know (a typo would be silently ignored by nobody: the core
refuses unknown keys, so it would not start in production)."""
import os
import re
import subprocess

import yaml

from stack import BIN, ROOT

DEPLOY = os.path.join(ROOT, "deploy")


def k8s_docs():
    for f in sorted(os.listdir(os.path.join(DEPLOY, "k8s"))):
        if f.endswith(".yaml"):
            with open(os.path.join(DEPLOY, "k8s", f)) as fh:
                for doc in yaml.safe_load_all(fh):
                    if doc:
                        yield f, doc


def test_k8s_pods_run_with_least_privilege():
    pods = 0
    for f, doc in k8s_docs():
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        if not spec:
            continue
        pods += 1
        assert spec.get("automountServiceAccountToken") is False, f
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, f
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, (f, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (f, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (f, c["name"])
            assert "limits" in c.get("resources", {}), (f, c["name"])
            # Secrets reach the process as files, never as environment or flags.
            assert not any("secretKeyRef" in str(e) for e in c.get("env", [])), (f, c["name"])
            assert not any("token" in a or "password" in a for a in c.get("args", [])), f
    assert pods >= 1
    kinds = {doc["kind"] for _, doc in k8s_docs()}
    assert "NetworkPolicy" in kinds


def core_keys():
    out = subprocess.run([os.path.join(BIN, "fitgate-core"), "--help"], capture_output=True,
                         text=True, timeout=10).stdout
    keys = set(re.findall(r"\b([a-z][a-z0-9_]+)=", out))
    for line in out.splitlines():  # "  mqtt_host, mqtt_port   ..." lists
        keys.update(re.findall(r"\b([a-z]+_[a-z0-9_]+)\b", line))
    return keys


def conf_keys(text):
    keys = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            keys.append(line.split("=", 1)[0].strip())
    return keys


def test_shipped_core_configs_use_known_keys():
    known = core_keys()
    texts = [open(os.path.join(DEPLOY, "core.conf")).read()]
    for _, doc in k8s_docs():
        if doc["kind"] == "ConfigMap":
            texts += list(doc["data"].values())
    for text in texts:
        unknown = [k for k in conf_keys(text) if k not in known]
        assert not unknown, unknown


def test_update_dropin_opens_only_what_updates_need():
    """The A/B update drop-in loosens the edge's sandbox for exactly the slot
    devices and the boot environment, and never gives back capabilities,
    root or a writable system."""
    path = os.path.join(DEPLOY, "systemd", "fitgate-edge.service.d", "ab-updates.conf")
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    allowed = {"[Service]", "PrivateDevices=no", "DevicePolicy=closed",
               "SupplementaryGroups=disk"}
    for l in lines:
        if l in allowed:
            continue
        key, _, value = l.partition("=")
        if key == "DeviceAllow":
            assert re.fullmatch(r"/dev/mmcblk0p[23] rw", value), l
        elif key == "ReadWritePaths":
            assert value.split() == ["/boot/firmware/uboot.env"], l
        else:
            raise AssertionError(f"unexpected setting in the update drop-in: {l}")


def test_systemd_units_are_hardened():
    for unit in os.listdir(os.path.join(DEPLOY, "systemd")):
        if not unit.endswith(".service"):
            continue
        text = open(os.path.join(DEPLOY, "systemd", unit)).read()
        for key in ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                    "CapabilityBoundingSet=", "SystemCallFilter="]:
            assert key in text, (unit, key)
        # Secrets through systemd credentials, not on the command line.
        exec_line = [l for l in text.splitlines() if l.startswith("ExecStart=")][0]
        assert "token" not in exec_line and "password" not in exec_line, unit
