// deploy/examples/reference/ as a user applies it to a cluster that runs deploy/
// (`kubectl apply -f deploy/examples/reference/`; its lab/ folder stands for what a cluster
// already has, and only `warden lab` reads it):
//   - every object is whole for the API server: names, namespaces that exist, images, service
//     accounts that exist, a Deployment's selector matching its template; no status, no nodeName;
//   - it passes deploy/'s admission policies, their CEL run for real: the workloads as the
//     ReplicaSet controller creates their pods, the network objects written by a network admin;
//   - the policies select deploy/'s own gateway pods, and let them reach its control pods;
//   - the lab's pods are what these objects become (namespace, labels, service account, ports),
//     so the lab and a cluster run one scenario.
//   node tests/deploy/reference_examples_test.mjs
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { admit, selects } from "./admission.mjs";
import { describe, find, render, SOURCE_DIR } from "./render.mjs";

const REFERENCE = join(SOURCE_DIR, "deploy", "examples", "reference");

function load(dir) {
  const objects = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`);
      const o = d.toJS();
      if (!o) continue;
      for (const item of o.kind === "List" ? o.items : [o]) objects.push({ ...item, _file: f });
    }
  }
  return objects;
}

const applied = load(REFERENCE);
const lab = load(join(REFERENCE, "lab"));
const base = render("base");

// The kinds a cluster with deploy/ and Istio's CRDs serves, and their API groups' resources.
const KINDS = {
  Namespace: null,
  ServiceAccount: { group: "", resource: "serviceaccounts" },
  Deployment: { group: "apps", resource: "deployments" },
  NetworkPolicy: { group: "networking.k8s.io", resource: "networkpolicies" },
  ServiceEntry: { group: "networking.istio.io", resource: "serviceentries" },
  DestinationRule: { group: "networking.istio.io", resource: "destinationrules" },
  AuthorizationPolicy: { group: "security.istio.io", resource: "authorizationpolicies" },
};
const namespaces = new Set([
  ...applied.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name),
  ...base.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name),
]);
const namespaceLabels = (ns) => {
  const o = applied.find((x) => x.kind === "Namespace" && x.metadata.name === ns);
  return { "kubernetes.io/metadata.name": ns, ...(o?.metadata.labels ?? {}) };
};
const deployments = applied.filter((o) => o.kind === "Deployment");

test("reference: every object is one the API server takes", () => {
  assert.ok(applied.length > 20, `only ${applied.length} objects`);
  for (const o of applied) {
    const what = `${o._file}: ${describe(o)}`;
    assert.ok(o.kind in KINDS, `${what}: not a kind a cluster with deploy/ and Istio serves`);
    assert.ok(o.apiVersion && o.metadata?.name, `${what}: apiVersion and metadata.name`);
    assert.equal(o.status, undefined, `${what}: status is the cluster's to write`);
    if (o.kind === "Namespace") continue;
    assert.ok(namespaces.has(o.metadata.namespace), `${what}: namespace ${o.metadata.namespace} is created by neither this folder nor deploy/`);
  }
  for (const d of deployments) {
    const what = `${d._file}: ${describe(d)}`;
    const t = d.spec.template;
    assert.ok(selects(d.spec.selector, t.metadata.labels), `${what}: the selector does not select its template`);
    assert.equal(t.spec.nodeName, undefined, `${what}: nodeName is the scheduler's`);
    for (const c of t.spec.containers) assert.ok(c.name && c.image, `${what}: container without name or image`);
    const sa = t.spec.serviceAccountName;
    assert.ok(
      applied.some((o) => o.kind === "ServiceAccount" && o.metadata.name === sa && o.metadata.namespace === d.metadata.namespace),
      `${what}: service account ${sa} is not created`,
    );
  }
});

test("reference: deploy/'s admission policies admit it", () => {
  const policy = (name) => ({
    pol: find(base, "ValidatingAdmissionPolicy", name),
    binding: find(base, "ValidatingAdmissionPolicyBinding", name),
  });
  const replicaSetController = {
    username: "system:serviceaccount:kube-system:replicaset-controller",
    groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
  };
  for (const name of ["warden-gateway-pool", "warden-no-net-raw"]) {
    const { pol, binding } = policy(name);
    for (const d of deployments) {
      const ns = d.metadata.namespace;
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: `${d.metadata.name}-1`, namespace: ns, labels: d.spec.template.metadata.labels }, spec: d.spec.template.spec };
      const r = admit(pol, binding, {
        group: "", version: "v1", resource: "pods", kind: "Pod", operation: "CREATE", namespace: ns,
        namespaceLabels: namespaceLabels(ns), userInfo: replicaSetController, object: pod,
      });
      assert.deepEqual(r.errors, [], `${name}: CEL errors`);
      assert.equal(r.allowed, true, `${name} refuses ${describe(d)}'s pods: ${r.denials.join("; ")}`);
    }
  }
  // The network objects, written by a network admin; and the policy does guard them (an
  // ordinary user is refused in the protected namespaces), so the first check can fail.
  const { pol, binding } = policy("warden-network-objects");
  const admin = { username: "nina", groups: ["warden:network-admins", "system:authenticated"] };
  const dev = { username: "dave", groups: ["system:authenticated"] };
  let guarded = 0;
  for (const o of applied.filter((x) => KINDS[x.kind]?.group?.includes("."))) {
    const { group, resource } = KINDS[o.kind];
    const req = (userInfo) => ({
      group, version: "v1", resource, kind: o.kind, operation: "CREATE", namespace: o.metadata.namespace,
      name: o.metadata.name, namespaceLabels: namespaceLabels(o.metadata.namespace), userInfo, object: o,
    });
    const r = admit(pol, binding, req(admin));
    assert.deepEqual(r.errors, [], "warden-network-objects: CEL errors");
    assert.equal(r.allowed, true, `a network admin may not write ${describe(o)}: ${r.denials.join("; ")}`);
    if (!admit(pol, binding, req(dev)).allowed) guarded++;
  }
  assert.ok(guarded >= 8, `only ${guarded} objects are guarded by warden-network-objects`);
});

test("reference: its policies select deploy/'s gateway pods", () => {
  const gateway = find(base, "Deployment", "warden-gateway").spec.template.metadata.labels;
  const gatewayNs = find(base, "Deployment", "warden-gateway").metadata.namespace;
  const selectors = [
    ...applied.filter((o) => o.kind === "AuthorizationPolicy").map((o) => [o, o.spec.selector]),
    ...applied.filter((o) => o.kind === "NetworkPolicy" && o.metadata.namespace === gatewayNs).map((o) => [o, o.spec.podSelector]),
  ];
  assert.ok(selectors.length >= 3);
  for (const [o, sel] of selectors) {
    assert.equal(o.metadata.namespace, gatewayNs, `${describe(o)} is not in the gateway's namespace`);
    assert.ok(selects(sel, gateway), `${describe(o)} does not select deploy/'s gateway pods (${JSON.stringify(gateway)})`);
  }
});

test("reference: the lab's pods are what its workloads and deploy/ become", () => {
  const fromDeploy = { "warden-egress": "warden-gateway", "warden-system": "warden-control" };
  let matched = 0;
  for (const p of lab.filter((o) => o.kind === "Pod")) {
    const ns = p.metadata.namespace;
    const what = `lab/${p._file}: ${describe(p)}`;
    if (ns === "kube-system" || p.metadata.name === "batch") continue;  // the cluster's; refused by admission
    const owners = fromDeploy[ns]
      ? [find(base, "Deployment", fromDeploy[ns])]
      : deployments.filter((d) => d.metadata.namespace === ns && selects(d.spec.selector, p.metadata.labels));
    assert.equal(owners.length, 1, `${what}: ${owners.length} Deployments would create it`);
    const t = owners[0].spec.template;
    for (const [k, v] of Object.entries(p.metadata.labels ?? {}))
      assert.equal(t.metadata.labels[k], v, `${what}: label ${k} differs from ${describe(owners[0])}'s pods`);
    assert.equal(p.spec.serviceAccountName, t.spec.serviceAccountName, `${what}: service account`);
    if (!fromDeploy[ns]) {
      const ports = (c) => (c.ports ?? []).map((x) => `${x.name}:${x.containerPort}/${x.protocol ?? "TCP"}`).sort();
      assert.deepEqual(ports(p.spec.containers[0]), ports(t.spec.containers[0]), `${what}: ports`);
    }
    matched++;
  }
  assert.ok(matched >= 6, `only ${matched} lab pods checked`);
});

test("reference: the gateway reaches deploy/'s control pods on their Sync port, no lab address", () => {
  const control = find(base, "Deployment", "warden-control");
  const labels = control.spec.template.metadata.labels;
  const ns = control.metadata.namespace;
  const ports = control.spec.template.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.containerPort);
  const gw = applied.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === "gateway");
  assert.ok(gw, "no NetworkPolicy gateway");
  const reaches = (gw.spec.egress ?? []).filter((rule) =>
    (rule.ports ?? []).some((p) => ports.includes(p.port)) &&
    (rule.to ?? []).some((peer) => peer.podSelector && peer.namespaceSelector &&
      selects(peer.namespaceSelector, namespaceLabels(ns)) && selects(peer.podSelector, labels)));
  assert.equal(reaches.length, 1, `no egress rule of ${describe(gw)} selects ${ns}'s control pods on ${ports}`);
  // The lab's own addresses stay in lab/: the control plane's, outside any pod there.
  for (const o of applied.filter((x) => x.kind === "NetworkPolicy")) {
    assert.ok(!JSON.stringify(o.spec).includes("10.10.0.2/32"), `${describe(o)} names the lab's control plane`);
  }
  assert.ok(lab.some((o) => o.kind === "NetworkPolicy" && JSON.stringify(o.spec).includes("10.10.0.2/32")),
    "lab/ does not let the lab's gateway reach its control plane");
});
