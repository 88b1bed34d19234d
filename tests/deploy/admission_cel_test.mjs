// The ValidatingAdmissionPolicies of deploy/, evaluated for real (their CEL, taken from the
// rendered YAML) against sample admission requests.
//   node tests/deploy/admission_cel_test.mjs          (or: node --test FILE)
import assert from "node:assert/strict";
import { test } from "node:test";
import { admit, DEFAULT_USER, selects } from "./admission.mjs";
import { find, render } from "./render.mjs";

const objects = render("base");
const policy = (name) => ({
  policy: find(objects, "ValidatingAdmissionPolicy", name),
  binding: find(objects, "ValidatingAdmissionPolicyBinding", name),
});
const gatewayPool = policy("warden-gateway-pool");
const noNetRaw = policy("warden-no-net-raw");
const networkObjects = policy("warden-network-objects");

// Containers that drop ALL: only the property under test decides.
const safe = (name = "app", extra = {}) => ({
  name,
  image: "app",
  securityContext: { capabilities: { drop: ["ALL"] } },
  ...extra,
});
const pod = (spec, name = "p") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name },
  spec: { containers: [safe()], ...spec },
});

// Who creates pods, as the API server authenticates them.
const daemonSetController = {
  username: "system:serviceaccount:kube-system:daemon-set-controller",
  groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
};
const replicaSetController = {
  username: "system:serviceaccount:kube-system:replicaset-controller",
  groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
};
const kubelet = (node) => ({ username: `system:node:${node}`, groups: ["system:nodes", "system:authenticated"] });

// user: the request's userInfo; left out, the emulator's DEFAULT_USER (an ordinary user).
function podRequest(p, { namespace = "team-x", operation = "CREATE", oldObject, labels, sub, user } = {}) {
  return {
    group: "",
    version: "v1",
    resource: "pods",
    subResource: sub,
    kind: "Pod",
    operation,
    namespace,
    namespaceLabels: labels,
    userInfo: user,
    object: p,
    oldObject,
  };
}

function check({ policy: pol, binding }, req) {
  const r = admit(pol, binding, req);
  assert.deepEqual(r.errors, [], `CEL errors: ${r.errors.join("\n")}`);
  return r;
}
function refused(pol, req, ...words) {
  const r = check(pol, req);
  const name = pol.policy.metadata.name;
  assert.equal(r.matched, true, `${name} should apply to this request (${req.namespace}) but does not`);
  assert.equal(r.allowed, false, `${name} should refuse this ${req.kind ?? "object"} in ${req.namespace} but allows it`);
  for (const w of words) {
    assert.ok(r.denials.some((d) => d.includes(w)), `no message mentions "${w}": ${r.denials}`);
  }
  return r;
}
function allowed(pol, req) {
  const r = check(pol, req);
  assert.equal(r.allowed, true,
    `${pol.policy.metadata.name} should allow this but refuses: ${r.denials.join("; ")}`);
  return r;
}

const required = (...terms) => ({
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
    },
  },
});
const poolExpr = (operator, values) => ({
  key: "cloud.google.com/gke-nodepool",
  operator,
  ...(values ? { values } : {}),
});

// --- warden-gateway-pool ---------------------------------------------------------------------

test("gateway pool: a pod with nothing gateway-related is allowed", () => {
  allowed(gatewayPool, podRequest(pod({})));
});

test("gateway pool: a keyless operator Exists toleration (tolerates every taint) is refused", () => {
  refused(gatewayPool, podRequest(pod({ tolerations: [{ operator: "Exists" }] })),
    "key=<any> operator=Exists", "team-x/p");
});

test("gateway pool: a keyless Exists toleration for NoExecute only does not tolerate NoSchedule", () => {
  allowed(gatewayPool, podRequest(pod({ tolerations: [{ operator: "Exists", effect: "NoExecute" }] })));
});

test("gateway pool: dedicated=gateway:NoSchedule (Equal) is refused", () => {
  const t = { key: "dedicated", operator: "Equal", value: "gateway", effect: "NoSchedule" };
  refused(gatewayPool, podRequest(pod({ tolerations: [t] })), "key=dedicated operator=Equal");
});

test("gateway pool: dedicated=gateway with the operator left out (Equal) and no effect is refused", () => {
  refused(gatewayPool, podRequest(pod({ tolerations: [{ key: "dedicated", value: "gateway" }] })));
});

test("gateway pool: operator Exists on key dedicated is refused", () => {
  refused(gatewayPool, podRequest(pod({ tolerations: [{ key: "dedicated", operator: "Exists" }] })));
});

test("gateway pool: dedicated=gateway with effect NoExecute does not tolerate the taint", () => {
  const t = { key: "dedicated", operator: "Equal", value: "gateway", effect: "NoExecute" };
  allowed(gatewayPool, podRequest(pod({ tolerations: [t] })));
});

test("gateway pool: dedicated with another value is allowed", () => {
  const t = { key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" };
  allowed(gatewayPool, podRequest(pod({ tolerations: [t] })));
});

test("gateway pool: a toleration of another taint is allowed", () => {
  const t = [
    { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    { key: "gpu", operator: "Exists" },
  ];
  allowed(gatewayPool, podRequest(pod({ tolerations: t })));
});

test("gateway pool: a nodeSelector on the gateway pool is refused", () => {
  refused(gatewayPool,
    podRequest(pod({ nodeSelector: { "cloud.google.com/gke-nodepool": "gateway" } })),
    "spec.nodeSelector");
});

test("gateway pool: a nodeSelector on another pool is allowed", () => {
  allowed(gatewayPool,
    podRequest(pod({ nodeSelector: { "cloud.google.com/gke-nodepool": "default-pool" } })));
});

test("gateway pool: required affinity In [gateway] is refused", () => {
  refused(gatewayPool,
    podRequest(pod(required({ matchExpressions: [poolExpr("In", ["default-pool", "gateway"])] }))),
    "requiredDuringSchedulingIgnoredDuringExecution");
});

test("gateway pool: required affinity Exists on the pool label is refused", () => {
  refused(gatewayPool, podRequest(pod(required({ matchExpressions: [poolExpr("Exists")] }))));
});

test("gateway pool: required affinity, one of two terms admitting the pool, is refused", () => {
  const p = pod(required(
    { matchExpressions: [poolExpr("In", ["default-pool"])] },
    { matchExpressions: [poolExpr("In", ["gateway"])] },
  ));
  refused(gatewayPool, podRequest(p));
});

test("gateway pool: required affinity NotIn [gateway] is allowed", () => {
  allowed(gatewayPool,
    podRequest(pod(required({ matchExpressions: [poolExpr("NotIn", ["gateway"])] }))));
});

test("gateway pool: required affinity DoesNotExist on the pool label is allowed", () => {
  allowed(gatewayPool, podRequest(pod(required({ matchExpressions: [poolExpr("DoesNotExist")] }))));
});

test("gateway pool: a term In [gateway] AND NotIn [gateway] admits no node and is allowed", () => {
  const p = pod(required({
    matchExpressions: [poolExpr("In", ["gateway"]), poolExpr("NotIn", ["gateway"])],
  }));
  allowed(gatewayPool, podRequest(p));
});

test("gateway pool: preferred affinity on the pool is allowed (it does not require)", () => {
  const p = pod({
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 1, preference: { matchExpressions: [poolExpr("In", ["gateway"])] } },
        ],
      },
    },
  });
  allowed(gatewayPool, podRequest(p));
});

test("gateway pool: a DaemonSet-style matchFields term is allowed", () => {
  const p = pod(required({
    matchFields: [{ key: "metadata.name", operator: "In", values: ["default-1"] }],
  }));
  allowed(gatewayPool, podRequest(p));
});

test("gateway pool: spec.nodeName set at creation is refused", () => {
  refused(gatewayPool, podRequest(pod({ nodeName: "default-1" })), "spec.nodeName is set (default-1)");
});

test("gateway pool: an update of a scheduled pod (nodeName set by the scheduler) is allowed", () => {
  const old = pod({ nodeName: "default-1" });
  const now = { ...old, metadata: { ...old.metadata, labels: { a: "b" } } };
  allowed(gatewayPool, podRequest(now, { operation: "UPDATE", oldObject: old }));
});

test("gateway pool: an update adding the gateway toleration is refused", () => {
  const old = pod({ nodeName: "default-1" });
  const now = pod({ nodeName: "default-1", tolerations: [{ key: "dedicated", operator: "Exists" }] });
  refused(gatewayPool, podRequest(now, { operation: "UPDATE", oldObject: old }));
});

test("gateway pool: a pod in warden-egress with all of those is allowed", () => {
  const p = pod({
    tolerations: [{ operator: "Exists" }, { key: "dedicated", operator: "Exists" }],
    nodeSelector: { "cloud.google.com/gke-nodepool": "gateway" },
    nodeName: "gateway-1",
    ...required({ matchExpressions: [poolExpr("In", ["gateway"])] }),
  });
  const r = allowed(gatewayPool, podRequest(p, { namespace: "warden-egress" }));
  assert.equal(r.matched, false, "matchConditions exclude warden-egress");
});

test("gateway pool: the requests default to an ordinary user", () => {
  const r = refused(gatewayPool, podRequest(pod({ nodeName: "n1" })), `(CREATE by ${DEFAULT_USER.username})`);
  assert.ok(!DEFAULT_USER.username.startsWith("system:"), DEFAULT_USER.username);
  assert.equal(r.denials.length, 1);
});

const tolerateAll = { tolerations: [{ operator: "Exists" }] };

test("gateway pool: a kube-system pod tolerating every taint, created by a user, is refused", () => {
  refused(gatewayPool, podRequest(pod(tolerateAll), { namespace: "kube-system" }),
    "kube-system/p (CREATE by alice)", "key=<any> operator=Exists");
});

test("gateway pool: a kube-system pod tolerating every taint, created by the DaemonSet controller, is allowed", () => {
  const r = allowed(gatewayPool,
    podRequest(pod(tolerateAll), { namespace: "kube-system", user: daemonSetController }));
  assert.equal(r.matched, false, "matchConditions exempt node daemons");
});

test("gateway pool: a DaemonSet's pod in another namespace is refused", () => {
  refused(gatewayPool, podRequest(pod(tolerateAll), { namespace: "team-x", user: daemonSetController }),
    "team-x/p (CREATE by system:serviceaccount:kube-system:daemon-set-controller)");
});

test("gateway pool: a kube-system Deployment's pod tolerating every taint is refused", () => {
  refused(gatewayPool, podRequest(pod(tolerateAll), { namespace: "kube-system", user: replicaSetController }));
});

test("gateway pool: a warden-system pod with nodeName, created by a user, is refused", () => {
  refused(gatewayPool, podRequest(pod({ nodeName: "gateway-1" }), { namespace: "warden-system" }),
    "warden-system/p", "spec.nodeName is set (gateway-1)");
});

test("gateway pool: the warden-system namespace alone exempts nothing, on UPDATE either", () => {
  const old = pod({});
  refused(gatewayPool, podRequest(pod({ tolerations: [{ key: "dedicated", operator: "Exists" }] }),
    { namespace: "warden-system", operation: "UPDATE", oldObject: old }));
});

const mirrored = (spec, annotations) => {
  const p = pod(spec, "etcd-n1");
  return annotations ? { ...p, metadata: { ...p.metadata, annotations } } : p;
};
const mirrorAnnotation = { "kubernetes.io/config.mirror": "0123456789abcdef" };

test("gateway pool: a kubelet's mirror pod (annotated, with nodeName) is allowed", () => {
  const r = allowed(gatewayPool, podRequest(
    mirrored({ nodeName: "n1", ...tolerateAll }, mirrorAnnotation),
    { namespace: "kube-system", user: kubelet("n1") }));
  assert.equal(r.matched, false, "matchConditions exempt mirror pods");
});

test("gateway pool: a mirror pod in any namespace is exempt (static pods may name one)", () => {
  allowed(gatewayPool, podRequest(mirrored({ nodeName: "n1" }, mirrorAnnotation),
    { namespace: "team-x", user: kubelet("n1") }));
});

test("gateway pool: a kubelet's pod without the mirror annotation is refused", () => {
  refused(gatewayPool, podRequest(mirrored({ nodeName: "n1" }, { other: "x" }),
    { namespace: "kube-system", user: kubelet("n1") }), "spec.nodeName is set (n1)", "by system:node:n1");
  refused(gatewayPool, podRequest(mirrored({ nodeName: "n1" }),
    { namespace: "kube-system", user: kubelet("n1") }), "spec.nodeName is set (n1)");
});

test("gateway pool: the mirror annotation from anyone but a node is refused", () => {
  for (const user of [DEFAULT_USER, replicaSetController,
    // The node's name without the group: not a node to NodeRestriction, so not exempt.
    { username: "system:node:n1", groups: ["system:authenticated"] }]) {
    for (const namespace of ["kube-system", "team-x"]) {
      refused(gatewayPool, podRequest(mirrored({ nodeName: "n1" }, mirrorAnnotation), { namespace, user }),
        "spec.nodeName is set (n1)");
    }
  }
  // The DaemonSet controller: exempt in kube-system as a node daemon, not elsewhere.
  refused(gatewayPool, podRequest(mirrored({ nodeName: "n1" }, mirrorAnnotation),
    { namespace: "team-x", user: daemonSetController }), "spec.nodeName is set (n1)");
});

test("gateway pool: the rendered agent pod passes when the DaemonSet controller creates it", () => {
  const ds = find(objects, "DaemonSet", "warden-node");
  const p = pod(ds.spec.template.spec);
  allowed(gatewayPool, podRequest(p, { namespace: "warden-system", user: daemonSetController }));
  refused(gatewayPool, podRequest(p, { namespace: "warden-system" }), "key=<any> operator=Exists");
});

test("gateway pool: the rendered control plane pod passes as the ReplicaSet controller creates it", () => {
  const d = find(objects, "Deployment", "warden-control");
  const r = allowed(gatewayPool,
    podRequest(pod(d.spec.template.spec), { namespace: "warden-system", user: replicaSetController }));
  assert.equal(r.matched, true, "warden-control's pods are not exempt");
});

test("gateway pool: every refusal is reported, each with its reason", () => {
  const p = pod({
    tolerations: [{ operator: "Exists" }],
    nodeSelector: { "cloud.google.com/gke-nodepool": "gateway" },
    nodeName: "gateway-1",
    ...required({ matchExpressions: [poolExpr("In", ["gateway"])] }),
  });
  const r = refused(gatewayPool, podRequest(p));
  assert.equal(r.denials.length, 4, r.denials.join("\n"));
});

// --- warden-no-net-raw ------------------------------------------------------------------------

const withContainers = (containers, extra = {}) => pod({ containers, ...extra });

test("NET_RAW: a container without a securityContext keeps it by default and is refused", () => {
  refused(noNetRaw, podRequest(withContainers([{ name: "web", image: "nginx" }])),
    'containers "web"', "neither NET_RAW nor ALL");
});

test("NET_RAW: dropped through ALL is allowed", () => {
  allowed(noNetRaw, podRequest(withContainers([safe("web")])));
});

test("NET_RAW: dropped by name is allowed (names compared without case)", () => {
  const c = (name, drop) => ({ name, image: "x", securityContext: { capabilities: { drop } } });
  allowed(noNetRaw, podRequest(withContainers([c("a", ["NET_RAW"]), c("b", ["net_raw", "CHOWN"])])));
});

test("NET_RAW: dropping other capabilities only keeps it and is refused", () => {
  const c = { name: "web", image: "x", securityContext: { capabilities: { drop: ["CHOWN"] } } };
  refused(noNetRaw, podRequest(withContainers([c])), 'containers "web"');
});

test("NET_RAW: ALL dropped but NET_RAW added back is refused", () => {
  const c = {
    name: "pinger",
    image: "x",
    securityContext: { capabilities: { drop: ["ALL"], add: ["NET_RAW"] } },
  };
  refused(noNetRaw, podRequest(withContainers([c])), 'containers "pinger"', "add gives NET_RAW back");
});

test("NET_RAW: add ALL is refused even with ALL dropped", () => {
  const c = { name: "c", image: "x", securityContext: { capabilities: { drop: ["ALL"], add: ["ALL"] } } };
  refused(noNetRaw, podRequest(withContainers([c])));
});

test("NET_RAW: a privileged container is refused (it keeps every capability)", () => {
  const c = {
    name: "root",
    image: "x",
    securityContext: { privileged: true, capabilities: { drop: ["ALL"] } },
  };
  refused(noNetRaw, podRequest(withContainers([c])), 'containers "root"', "privileged");
});

test("NET_RAW: privileged: false with ALL dropped is allowed", () => {
  allowed(noNetRaw, podRequest(withContainers([safe("c", {
    securityContext: { privileged: false, capabilities: { drop: ["ALL"] } },
  })])));
});

test("NET_RAW: an initContainer keeping it is refused, and named", () => {
  const p = withContainers([safe("app")], { initContainers: [{ name: "setup", image: "x" }] });
  refused(noNetRaw, podRequest(p), 'initContainers "setup"');
});

test("NET_RAW: an ephemeral container added through the subresource is refused", () => {
  const old = withContainers([safe("app")]);
  const now = { ...old, spec: { ...old.spec, ephemeralContainers: [{ name: "debugger", image: "x" }] } };
  refused(noNetRaw,
    podRequest(now, { operation: "UPDATE", oldObject: old, sub: "ephemeralcontainers" }),
    'ephemeralContainers "debugger"');
});

test("NET_RAW: each offending container is named in one message", () => {
  const p = withContainers([{ name: "a", image: "x" }, safe("ok"), { name: "b", image: "x" }]);
  const r = refused(noNetRaw, podRequest(p), 'containers "a"', 'containers "b"');
  assert.ok(!r.denials[0].includes('"ok"'), r.denials[0]);
});

test("NET_RAW: a namespace labelled warden.io/enforce=false is excluded by the binding", () => {
  const labels = { "warden.io/enforce": "false" };
  assert.equal(selects(noNetRaw.binding.spec.matchResources.namespaceSelector, labels), false);
  const r = allowed(noNetRaw,
    podRequest(withContainers([{ name: "web", image: "x" }]), { namespace: "legacy", labels }));
  assert.equal(r.matched, false);
});

test("NET_RAW: a namespace labelled warden.io/enforce=true is enforced", () => {
  refused(noNetRaw, podRequest(withContainers([{ name: "web", image: "x" }]), {
    labels: { "warden.io/enforce": "true" },
  }));
});

test("NET_RAW: the rendered warden-system namespace opts out (its init container is privileged)", () => {
  const ns = objects.find((o) => o.kind === "Namespace" && o.metadata.name === "warden-system");
  assert.equal(selects(noNetRaw.binding.spec.matchResources.namespaceSelector, ns.metadata.labels), false);
});

test("NET_RAW: the rendered gateway and control pods pass in enforced namespaces", () => {
  for (const [name, ns] of [["warden-gateway", "warden-egress"], ["warden-control", "warden-system"]]) {
    const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === name);
    allowed(noNetRaw, podRequest(pod(d.spec.template.spec), { namespace: ns, labels: {} }));
  }
});

test("gateway pool: the rendered gateway pod passes in warden-egress, and not elsewhere", () => {
  const d = find(objects, "Deployment", "warden-gateway");
  allowed(gatewayPool, podRequest(pod(d.spec.template.spec), { namespace: "warden-egress" }));
  refused(gatewayPool, podRequest(pod(d.spec.template.spec), { namespace: "team-x" }));
});

// --- warden-network-objects -------------------------------------------------------------------

function objectRequest({ group, resource, kind }, namespace, operation, userInfo) {
  const obj = { apiVersion: `${group}/v1`, kind, metadata: { name: "x", namespace }, spec: {} };
  return {
    group,
    version: "v1",
    resource,
    kind,
    operation,
    namespace,
    name: "x",
    userInfo,
    object: operation === "DELETE" ? null : obj,
    oldObject: operation === "CREATE" ? null : obj,
  };
}
const egressKinds = [
  { group: "networking.k8s.io", resource: "networkpolicies", kind: "NetworkPolicy" },
  { group: "networking.istio.io", resource: "serviceentries", kind: "ServiceEntry" },
  { group: "networking.istio.io", resource: "destinationrules", kind: "DestinationRule" },
  { group: "networking.istio.io", resource: "sidecars", kind: "Sidecar" },
  { group: "networking.istio.io", resource: "gateways", kind: "Gateway" },
  { group: "security.istio.io", resource: "authorizationpolicies", kind: "AuthorizationPolicy" },
];
const admin = { username: "nina", groups: ["warden:network-admins", "system:authenticated"] };
const dev = { username: "dave", groups: ["system:authenticated"] };

test("network objects: outside warden:network-admins, writes in protected namespaces are refused", () => {
  for (const k of egressKinds) {
    for (const ns of ["warden-egress", "warden-system", "kube-system"]) {
      for (const op of ["CREATE", "UPDATE", "DELETE"]) {
        refused(networkObjects, objectRequest(k, ns, op, dev), `dave may not ${op} ${k.resource}`);
      }
    }
  }
});

test("network objects: warden:network-admins may write them", () => {
  for (const k of egressKinds) allowed(networkObjects, objectRequest(k, "warden-egress", "UPDATE", admin));
});

test("network objects: other namespaces are not protected", () => {
  const r = allowed(networkObjects, objectRequest(egressKinds[0], "team-x", "CREATE", dev));
  assert.equal(r.matched, false);
});

test("network objects: the namespace controller may delete them, not create them", () => {
  const nc = { username: "system:serviceaccount:kube-system:namespace-controller", groups: [] };
  allowed(networkObjects, objectRequest(egressKinds[0], "warden-system", "DELETE", nc));
  refused(networkObjects, objectRequest(egressKinds[0], "warden-system", "CREATE", nc));
});

test("network objects: the garbage collector may delete them, not create or change them", () => {
  const gc = { username: "system:serviceaccount:kube-system:generic-garbage-collector", groups: [] };
  for (const k of egressKinds) allowed(networkObjects, objectRequest(k, "kube-system", "DELETE", gc));
  for (const op of ["CREATE", "UPDATE"]) {
    refused(networkObjects, objectRequest(egressKinds[0], "kube-system", op, gc), `may not ${op}`);
  }
});

test("network objects: other controllers and ordinary users may not delete them", () => {
  for (const u of [daemonSetController, replicaSetController, dev]) {
    refused(networkObjects, objectRequest(egressKinds[1], "warden-egress", "DELETE", u),
      `${u.username} may not DELETE serviceentries`);
  }
});

test("network objects: the group decides, not a user name that looks like an admin", () => {
  refused(networkObjects, objectRequest(egressKinds[0], "warden-egress", "CREATE",
    { username: "warden:network-admins", groups: ["system:authenticated"] }));
});

test("network objects: a protected namespace's labels cannot take it out of the binding", () => {
  const r = refused(networkObjects, {
    ...objectRequest(egressKinds[0], "warden-system", "CREATE", dev),
    namespaceLabels: { "kubernetes.io/metadata.name": "team-x" },
  });
  assert.equal(r.matched, true);
});
