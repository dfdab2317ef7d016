#!/usr/bin/env python3
"""Rules of a working Strait cluster that the Kubernetes schemas cannot express.

Usage: check_manifests.py RENDERED.yaml   (the output of `kubectl kustomize deploy/kubernetes`)

Exits 1 and names every broken rule. The rules come from how a Raft cluster behaves on
Kubernetes: peers must find each other before they are ready, a drain must never take a
quorum away, and a liveness probe must not depend on the cluster's health.
"""

import sys

import yaml


def by_kind(docs, kind):
    return [d for d in docs if d and d.get("kind") == kind]


def env_value(container, name, config_maps):
    for entry in container.get("env", []):
        if entry["name"] == name and "value" in entry:
            return entry["value"]
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref in config_maps and name in config_maps[ref].get("data", {}):
            return config_maps[ref]["data"][name]
    return None


def check(docs):
    errors = []
    sets = by_kind(docs, "StatefulSet")
    if len(sets) != 1:
        return [f"expected one StatefulSet, found {len(sets)}"]
    sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    config_maps = {c["metadata"]["name"]: c for c in by_kind(docs, "ConfigMap")}
    replicas = spec.get("replicas", 1)

    if replicas < 3:
        errors.append(f"replicas must be at least 3, not {replicas}")
    if spec.get("podManagementPolicy") != "Parallel":
        errors.append("podManagementPolicy must be Parallel: OrderedReady deadlocks the first start")
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        errors.append("the StatefulSet's selector does not match its pod labels")

    peers = services.get(spec["serviceName"])
    if peers is None:
        errors.append(f"serviceName {spec['serviceName']} names no Service")
    else:
        if peers["spec"].get("clusterIP") != "None":
            errors.append("the peer Service must be headless (clusterIP: None)")
        if not peers["spec"].get("publishNotReadyAddresses"):
            errors.append("the peer Service must publish not-ready addresses")

    for name, service in services.items():
        selector = service["spec"].get("selector", {})
        if any(labels.get(k) != v for k, v in selector.items()):
            errors.append(f"Service {name} selects no Strait pod")

    pdbs = by_kind(docs, "PodDisruptionBudget")
    if len(pdbs) != 1:
        errors.append(f"expected one PodDisruptionBudget, found {len(pdbs)}")
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            errors.append("the PodDisruptionBudget selects no Strait pod")
        most = pdb["spec"].get("maxUnavailable")
        if not isinstance(most, int) or most > (replicas - 1) // 2:
            errors.append(f"maxUnavailable {most} could take a quorum away from {replicas} replicas")

    containers = [c for c in pod["containers"] if c["name"] == "strait"]
    if len(containers) != 1:
        return errors + ["no container named strait"]
    container = containers[0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(probe_name)
        if probe is None:
            errors.append(f"{probe_name} is missing")
            continue
        port = probe["httpGet"]["port"]
        if port not in ports and port not in ports.values():
            errors.append(f"{probe_name} uses port {port}, which the container does not expose")
    if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        errors.append("livenessProbe must be /healthz: it must not depend on cluster health")
    if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        errors.append("readinessProbe must be /readyz")

    # The first STRAIT_CLUSTER_SIZE pods form the cluster; pods beyond it join it.
    size = env_value(container, "STRAIT_CLUSTER_SIZE", config_maps)
    if size is None or int(size) < 3 or int(size) % 2 == 0:
        errors.append(f"STRAIT_CLUSTER_SIZE ({size}) must be odd and at least 3")
    elif int(size) > replicas:
        errors.append(f"STRAIT_CLUSTER_SIZE ({size}) must not exceed replicas ({replicas})")
    template = env_value(container, "STRAIT_PEER_ADDRESS_TEMPLATE", config_maps)
    if template is None or "{ordinal}" not in template:
        errors.append("STRAIT_PEER_ADDRESS_TEMPLATE must contain {ordinal}")
    elif not template.startswith(f"{sts['metadata']['name']}-{{ordinal}}.{spec['serviceName']}."):
        errors.append(f"STRAIT_PEER_ADDRESS_TEMPLATE {template} does not name the pods of the peer Service")

    shutdown = env_value(container, "STRAIT_SHUTDOWN_TIMEOUT", config_maps)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if shutdown is not None and shutdown.endswith("s") and shutdown[:-1].isdigit():
        if int(shutdown[:-1]) >= grace:
            errors.append(f"STRAIT_SHUTDOWN_TIMEOUT {shutdown} must be below terminationGracePeriodSeconds {grace}")

    mounts = {m["name"] for m in container.get("volumeMounts", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if not claims & mounts:
        errors.append("the data directory is not on a volumeClaimTemplate")
    if not pod.get("affinity", {}).get("podAntiAffinity"):
        errors.append("podAntiAffinity is missing")
    return errors


def main():
    with open(sys.argv[1]) as f:
        docs = list(yaml.safe_load_all(f))
    errors = check(docs)
    for error in errors:
        print(f"manifest rule broken: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
