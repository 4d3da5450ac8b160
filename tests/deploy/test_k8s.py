"""deploy/k8s: every manifest valid for a pinned Kubernetes version (kubernetes-validate, offline
and strict: an unknown field fails), and the properties a production Lupa relies on: replicas,
probes, limits, a non-root read-only container, a PDB and an HPA per Deployment, Services and
NetworkPolicies that select the pods they mean, and one pinned image."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lupa import registry
from lupa.cli.main import build_parser
from tests.deploy.dockerfile import read_dockerfile
from tests.deploy.env_names import unknown

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.34.0"
# The relay leads each chain through an advisory lock: a second is a standby, a third adds
# nothing, so it alone has no HPA (deploy/k8s/relay.yaml says so).
NO_AUTOSCALING = {"lupa-relay"}
PINNED_IMAGE = re.compile(r"^[^:@\s]+:\d+\.\d+\.\d+$|@sha256:[0-9a-f]{64}$")

Doc = dict[str, Any]


def manifests() -> list[tuple[str, Doc]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def of_kind(kind: str) -> list[Doc]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def deployments() -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in of_kind("Deployment")}


def workloads() -> list[Doc]:
    return of_kind("Deployment") + of_kind("Job")


def http_deployments() -> dict[str, Doc]:
    return {n: d for n, d in deployments().items() if pod_spec(d)["containers"][0].get("ports")}


@pytest.mark.parametrize(
    "name,doc",
    manifests(),
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in manifests()],
)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(name: str, doc: Doc) -> None:
    used = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert used == "1.34", f"{name} validated against {used}"


def test_the_validator_is_strict() -> None:
    """A misspelt field fails: what passes above passed a real check."""
    wrong = copy.deepcopy(deployments()["lupa-consent"])
    pod_spec(wrong)["containers"][0]["readinesProbe"] = pod_spec(wrong)["containers"][0].pop(
        "readinessProbe"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_the_four_processes_run_real_lupa_commands() -> None:
    commands = {n: pod_spec(d)["containers"][0]["args"] for n, d in deployments().items()}
    assert set(commands) == {"lupa-consent", "lupa-dsar", "lupa-relay", "lupa-worker"}
    assert commands["lupa-consent"][:3] == ["lupa", "serve", "consent"]
    assert commands["lupa-dsar"][:3] == ["lupa", "serve", "dsar"]
    assert commands["lupa-relay"] == ["lupa", "relay"]
    assert commands["lupa-worker"] == ["lupa", "worker"]
    for args in [*commands.values(), pod_spec(of_kind("Job")[0])["containers"][0]["args"]]:
        build_parser().parse_args(args[1:])  # a wrong command exits, failing the test
    assert pod_spec(of_kind("Job")[0])["containers"][0]["args"] == ["lupa", "migrate"]
    assert pod_spec(of_kind("Job")[0])["restartPolicy"] == "Never"


def test_at_least_two_replicas_each() -> None:
    for name, deployment in deployments().items():
        assert deployment["spec"]["replicas"] >= 2, name


def test_services_are_probed_for_readiness_and_liveness_on_their_port() -> None:
    for name, deployment in http_deployments().items():
        container = pod_spec(deployment)["containers"][0]
        port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
        ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
        assert ready["path"] == "/health/ready", name
        assert live["path"] == "/health/live", name
        for probe in (ready, live):
            assert probe["port"] in port_names or probe["port"] in port_names.values(), name
        # The port the process listens on: the service's default (no LUPA_<SERVICE>_PORT set).
        service = container["args"][2]
        assert list(port_names.values()) == [registry.get(service).default_port], name
        assert not {e["name"] for e in container.get("env", [])} & {f"LUPA_{service.upper()}_PORT"}


def test_every_container_has_requests_limits_and_a_locked_down_security_context() -> None:
    image_user = read_dockerfile(REPO / "deploy" / "Dockerfile")[-1].all("USER")[-1].text
    uid = int(image_user.split(":")[0])
    for workload in workloads():
        name = workload["metadata"]["name"]
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == uid, f"{name}: not the image's user"
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            # Writable scratch where the process writes: /tmp and LUPA_HOME (the image's).
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/var/lib/lupa"} <= mounts, name


def test_one_pinned_image_everywhere_and_kustomize_sets_the_same_tag() -> None:
    images = {c["image"] for w in workloads() for c in pod_spec(w)["containers"]}
    assert len(images) == 1, images
    (image,) = images
    assert PINNED_IMAGE.search(image), f"not pinned: {image}"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    assert f"{entry['name']}:{entry['newTag']}" == image


def test_every_deployment_has_a_pdb_and_an_hpa_that_select_it() -> None:
    pdbs = of_kind("PodDisruptionBudget")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind("HorizontalPodAutoscaler")}
    for name, deployment in deployments().items():
        labels = pod_labels(deployment)
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels), name
        covering = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{name}: {len(covering)} PDBs"
        assert covering[0]["spec"]["minAvailable"] < deployment["spec"]["replicas"], name
        if name in NO_AUTOSCALING:
            assert name not in hpas
            continue
        hpa = hpas[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert set(hpas) <= set(deployments()), (
        f"HPAs for no Deployment: {set(hpas) - set(deployments())}"
    )


def test_each_service_selects_exactly_its_deployment_on_a_declared_port() -> None:
    services = of_kind("Service")
    assert {s["metadata"]["name"] for s in services} == set(http_deployments())
    for service in services:
        chosen = [
            d for d in deployments().values() if selects(service["spec"]["selector"], pod_labels(d))
        ]
        assert [d["metadata"]["name"] for d in chosen] == [service["metadata"]["name"]]
        ports = {
            p["name"]: p["containerPort"] for p in pod_spec(chosen[0])["containers"][0]["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
            assert port["port"] == ports[port["targetPort"]], "Service port differs from the pod's"


def policy_ports(rules: list[Doc]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for r in rules for p in r.get("ports", [])}


def policies_for(labels: dict[str, str], kind: str) -> list[Doc]:
    return [
        p
        for p in of_kind("NetworkPolicy")
        if kind in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]


def test_network_policy_denies_by_default_and_allows_what_lupa_needs() -> None:
    deny = [
        p
        for p in of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny NetworkPolicy"
    for workload in workloads():
        labels, name = pod_labels(workload), workload["metadata"]["name"]
        egress = policy_ports(
            [r for p in policies_for(labels, "Egress") for r in p["spec"].get("egress", [])]
        )
        for needed in [("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 4222)]:
            assert needed in egress, f"{name} cannot reach {needed}"
    for service in of_kind("Service"):
        target = deployments()[service["metadata"]["name"]]
        ingress = policy_ports(
            [
                r
                for p in policies_for(pod_labels(target), "Ingress")
                for r in p["spec"].get("ingress", [])
            ]
        )
        for port in service["spec"]["ports"]:
            assert ("TCP", port["port"]) in ingress, f"{service['metadata']['name']} unreachable"
    # Every selector in a policy means some workload: a typo would silently select nothing.
    every_labels = [pod_labels(w) for w in workloads()]
    for policy in of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert any(selects(selector, labels) for labels in every_labels), policy["metadata"]["name"]
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", []):
            for peer in rule.get("to", []) + rule.get("from", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    wanted = peer["podSelector"]["matchLabels"]
                    assert any(selects(wanted, labels) for labels in every_labels), wanted


def test_configuration_and_secrets_are_wired_to_what_exists() -> None:
    (config,) = of_kind("ConfigMap")
    (secret,) = of_kind("Secret")
    assert all("PLACEHOLDER" in value for value in secret["stringData"].values())
    assert not unknown(set(config["data"])), unknown(set(config["data"]))
    mounted = {  # Secret keys that reach the pods as files, not as environment variables
        item["key"]
        for w in workloads()
        for volume in pod_spec(w).get("volumes", [])
        if volume.get("secret", {}).get("secretName") == secret["metadata"]["name"]
        for item in volume["secret"]["items"]
    }
    assert mounted <= set(secret["stringData"]), mounted
    as_env = set(secret["stringData"]) - mounted
    assert not unknown(as_env), unknown(as_env)
    for workload in workloads():
        container = pod_spec(workload)["containers"][0]
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == config["metadata"]["name"]
        names = {e["name"] for e in container.get("env", [])}
        assert not unknown(names), unknown(names)
        for entry in container.get("env", []):
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"], ref
            assert "value" not in entry, f"{entry['name']} written inline"
        assert "DATABASE_URL" in names
    keys_file = Path(config["data"]["LUPA_KEYS_FILE"])
    keyring_users = {
        w["metadata"]["name"]
        for w in workloads()
        for volume in pod_spec(w).get("volumes", [])
        if volume.get("secret", {}).get("secretName") == secret["metadata"]["name"]
        and {"key": "keyring.json", "path": keys_file.name} in volume["secret"]["items"]
        for mount in pod_spec(w)["containers"][0].get("volumeMounts", [])
        if mount["name"] == volume["name"]
        and mount["mountPath"] == str(keys_file.parent)
        and mount.get("readOnly")
    }
    assert keyring_users == set(deployments()), "every process but the migration signs or decrypts"
    connector = {
        w["metadata"]["name"]
        for w in workloads()
        for e in pod_spec(w)["containers"][0].get("env", [])
        if e["name"] == "LUPA_CONSENT_CONNECTOR_SECRET"
    }
    assert connector == {"lupa-consent"}


def test_kustomization_applies_everything_but_the_example_secret_and_the_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files - {"secret.example.yaml", "migrate-job.yaml"}
