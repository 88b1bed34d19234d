// Renders deploy/ (the base and each overlay) with `kubectl kustomize` and checks the deployment's
// security and availability invariants on what would be applied.
//   node tests/deploy/deploy_render_test.mjs [PATH/TO/warden]
// With the binary, every --flag a container passes must be one `warden <command> --help` lists.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { describe, find, KUSTOMIZATIONS, render, SOURCE_DIR } from "./render.mjs";

// The agent's capabilities: exactly those agent/node/required_capabilities.h requires (the agent
// checks for them at start; tests/e2e/agent_capabilities_test.cc proved them enough and each one
// needed). Checked against the header below.
const AGENT_CAPABILITIES = ["BPF", "NET_ADMIN", "PERFMON"];
const REQUIRED_CAPABILITIES = (() => {
  const h = readFileSync(join(SOURCE_DIR, "agent/node/required_capabilities.h"), "utf8");
  const block = h.match(/kRequiredCapabilities\[\] = \{([\s\S]*?)\n\};/)[1];
  return [...block.matchAll(/\{CAP_(\w+),/g)].map((m) => m[1]);
})();
// The agent's identity: the kubelet's client certificate and key, one file the kubelet swaps.
const KUBELET_PKI = "/var/lib/kubelet/pki";
const KUBELET_CLIENT_PEM = `${KUBELET_PKI}/kubelet-client-current.pem`;
// Warden's CA certificate for the agents (a ConfigMap: public, no key beside it).
const WARDEN_CA_CONFIGMAP = "warden-ca";
// The cluster's CA, which Kubernetes publishes in every namespace (key ca.crt).
const CLUSTER_CA_CONFIGMAP = "kube-root-ca.crt";
// What warden-control may read: exactly the kinds the loader turns into objects
// (agent/policy/k8s_decode.cc), read-only.
const CONTROL_READS = {
  "": ["namespaces", "nodes", "pods"],
  "networking.k8s.io": ["networkpolicies"],
  "networking.istio.io": ["destinationrules", "serviceentries"],
  "security.istio.io": ["authorizationpolicies"],
};
const NETWORK_ADMIN_WRITES = {
  "networking.k8s.io": ["networkpolicies"],
  "networking.istio.io": ["destinationrules", "gateways", "serviceentries", "sidecars"],
  "security.istio.io": ["authorizationpolicies"],
};
const PROTECTED_NAMESPACES = ["kube-system", "warden-egress", "warden-system"];
// The node pool label, as the agent and control plane read it.
const POOL_LABEL = readFileSync(join(SOURCE_DIR, "agent/policy/objects.h"), "utf8").match(
  /kNodePoolLabel\[\] = "([^"]+)"/,
)[1];
const GATEWAY_TAINT = { key: "dedicated", value: "gateway", effect: "NoSchedule" };
const BPFFS_INIT = "mount-bpffs";
const wardenBinary = process.argv[2];

const sorted = (a) => [...(a ?? [])].sort();
const workloads = (objs) => objs.filter((o) => ["Deployment", "DaemonSet"].includes(o.kind));
const allContainers = (w) => [
  ...(w.spec.template.spec.initContainers ?? []).map((c) => ({ c, init: true })),
  ...(w.spec.template.spec.containers ?? []).map((c) => ({ c, init: false })),
];
const where = (w, c) => `${describe(w)} container ${c.name}`;
const container = (w, name) => {
  const c = w.spec.template.spec.containers.find((x) => x.name === name);
  assert.ok(c, `${describe(w)}: no container ${name}`);
  return c;
};
// The value after `flag` in a container's command and args.
function flag(w, c, name) {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  const i = argv.indexOf(name);
  assert.ok(i >= 0 && i + 1 < argv.length, `${where(w, c)}: command has no ${name} VALUE`);
  return argv[i + 1];
}
// Every value of a repeatable flag, in order.
function flags(w, c, name) {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  return argv.flatMap((a, i) => (a === name && i + 1 < argv.length ? [argv[i + 1]] : []));
}
const portOf = (address) => Number(address.slice(address.lastIndexOf(":") + 1));
function containerPort(w, c, port) {
  if (typeof port === "number") return port;
  const p = (c.ports ?? []).find((x) => x.name === port);
  assert.ok(p, `${where(w, c)}: no port named ${port}`);
  return p.containerPort;
}
function mount(w, c, path) {
  const m = (c.volumeMounts ?? []).find((x) => x.mountPath === path);
  assert.ok(m, `${where(w, c)}: nothing mounted at ${path}`);
  const v = w.spec.template.spec.volumes.find((x) => x.name === m.name);
  assert.ok(v, `${describe(w)}: volume ${m.name} is not declared`);
  return { m, v };
}
// The mount a file is read through (the file's directory is a mountPath) and the file's name in it.
function fileMount(w, c, file) {
  const dir = file.slice(0, file.lastIndexOf("/"));
  return { ...mount(w, c, dir), name: file.slice(dir.length + 1) };
}
// Where a ConfigMap or Secret key comes from in a volume: {kind, name, key} for file `name`.
function volumeSource(v, name) {
  if (v.configMap) return { kind: "ConfigMap", name: v.configMap.name, key: itemKey(v.configMap, name) };
  if (v.secret) return { kind: "Secret", name: v.secret.secretName, key: itemKey(v.secret, name) };
  for (const s of v.projected?.sources ?? []) {
    for (const [kind, src] of [["ConfigMap", s.configMap], ["Secret", s.secret]]) {
      if (!src) continue;
      const item = (src.items ?? []).find((i) => i.path === name);
      if (item) return { kind, name: src.name, key: item.key };
    }
  }
  return undefined;
}
function itemKey(src, name) {
  if (!src.items) return name;
  return src.items.find((i) => i.path === name)?.key;
}
// Whether a toleration tolerates a taint, as the scheduler decides (ToleratesTaint).
function tolerates(t, taint) {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === "Exists") return true;
  return (t.operator ?? "Equal") === "Equal" && t.value === taint.value;
}
function probe(w, c, kind, path, metricsFlag) {
  const p = c[kind]?.httpGet;
  assert.ok(p, `${where(w, c)}: no ${kind} httpGet`);
  assert.equal(p.path, path, `${where(w, c)}: ${kind}.httpGet.path`);
  assert.equal(containerPort(w, c, p.port), portOf(flag(w, c, metricsFlag)),
    `${where(w, c)}: ${kind} must probe the ${metricsFlag} port`);
}
function env(w, c, name, fieldPath) {
  const e = (c.env ?? []).find((x) => x.name === name);
  assert.equal(e?.valueFrom?.fieldRef?.fieldPath, fieldPath,
    `${where(w, c)}: env ${name} must come from the downward API ${fieldPath}`);
}
function noApiToken(objs, w) {
  const spec = w.spec.template.spec;
  const sa = find(objs, "ServiceAccount", spec.serviceAccountName, w.metadata.namespace);
  assert.equal(sa.automountServiceAccountToken, false, `${describe(sa)}: automountServiceAccountToken`);
  assert.equal(spec.automountServiceAccountToken, false, `${describe(w)}: automountServiceAccountToken`);
  for (const b of objs.filter((o) => ["RoleBinding", "ClusterRoleBinding"].includes(o.kind))) {
    for (const s of b.subjects ?? []) {
      assert.ok(!(s.kind === "ServiceAccount" && s.name === sa.metadata.name),
        `${describe(b)} binds ${sa.metadata.name}, which must have no role`);
    }
  }
}
// group -> sorted resources, for the rules that grant `verb`.
function grants(role, verb) {
  const out = {};
  for (const r of role.rules ?? []) {
    if (!r.verbs.includes(verb)) continue;
    for (const g of r.apiGroups ?? []) out[g] = sorted([...(out[g] ?? []), ...(r.resources ?? [])]);
  }
  return out;
}

for (const k of KUSTOMIZATIONS) {
  const objs = render(k);
  const node = find(objs, "DaemonSet", "warden-node", "warden-system");
  const gateway = find(objs, "Deployment", "warden-gateway", "warden-egress");
  const control = find(objs, "Deployment", "warden-control", "warden-system");
  const agent = container(node, "agent");

  test(`${k}: the agent's capabilities are exactly ${AGENT_CAPABILITIES}, ALL dropped`, () => {
    assert.deepEqual(sorted(AGENT_CAPABILITIES), sorted(REQUIRED_CAPABILITIES),
      "AGENT_CAPABILITIES must be agent/node/required_capabilities.h's kRequiredCapabilities");
    const sc = agent.securityContext ?? {};
    assert.deepEqual(sorted(sc.capabilities?.add), sorted(AGENT_CAPABILITIES),
      `${where(node, agent)}: securityContext.capabilities.add`);
    assert.deepEqual(sc.capabilities?.drop, ["ALL"], `${where(node, agent)}: capabilities.drop`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${where(node, agent)}: allowPrivilegeEscalation`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${where(node, agent)}: readOnlyRootFilesystem`);
  });

  test(`${k}: only the bpffs init container is privileged; every other drops ALL`, () => {
    for (const w of workloads(objs)) {
      for (const { c, init } of allContainers(w)) {
        const sc = c.securityContext ?? {};
        if (init && c.name === BPFFS_INIT && w === node) continue;
        assert.notEqual(sc.privileged, true, `${where(w, c)}: securityContext.privileged`);
        assert.ok((sc.capabilities?.drop ?? []).includes("ALL"), `${where(w, c)}: capabilities.drop ALL`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where(w, c)}: allowPrivilegeEscalation`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where(w, c)}: readOnlyRootFilesystem`);
      }
    }
  });

  test(`${k}: the bpffs init container mounts bpffs with Bidirectional propagation`, () => {
    const init = (node.spec.template.spec.initContainers ?? []).find((c) => c.name === BPFFS_INIT);
    assert.ok(init, `${describe(node)}: no init container ${BPFFS_INIT}`);
    assert.equal(init.securityContext?.privileged, true, `${where(node, init)}: privileged (to mount)`);
    const { m, v } = mount(node, init, "/sys/fs/bpf");
    assert.equal(m.mountPropagation, "Bidirectional", `${where(node, init)}: /sys/fs/bpf mountPropagation`);
    assert.equal(v.hostPath?.path, "/sys/fs/bpf", `${describe(node)}: volume ${v.name} hostPath`);
  });

  test(`${k}: the agent's mounts: bpffs HostToContainer, cgroup2 read-only, state, kubelet PKI, CA`, () => {
    const bpf = mount(node, agent, "/sys/fs/bpf");
    assert.equal(bpf.m.mountPropagation, "HostToContainer", `${where(node, agent)}: /sys/fs/bpf mountPropagation`);
    assert.equal(bpf.v.hostPath?.path, "/sys/fs/bpf");
    assert.ok(flag(node, agent, "--bpffs").startsWith("/sys/fs/bpf/"), `${where(node, agent)}: --bpffs under the bpffs mount`);
    const cg = mount(node, agent, flag(node, agent, "--cgroup-root"));
    assert.equal(cg.v.hostPath?.path, "/sys/fs/cgroup", `${where(node, agent)}: --cgroup-root is the host's cgroup2 root`);
    assert.equal(cg.m.readOnly, true, `${where(node, agent)}: /sys/fs/cgroup readOnly`);
    const st = mount(node, agent, flag(node, agent, "--state-dir"));
    assert.equal(st.v.hostPath?.path, "/var/lib/warden", `${where(node, agent)}: --state-dir on hostPath /var/lib/warden`);
    const hostPaths = node.spec.template.spec.volumes.filter((v) => v.hostPath).map((v) => v.hostPath.path);
    assert.deepEqual(sorted(hostPaths), sorted(["/sys/fs/bpf", "/sys/fs/cgroup", "/var/lib/warden", KUBELET_PKI]),
      `${describe(node)}: hostPath volumes`);
  });

  test(`${k}: the agent speaks for its node with the kubelet's certificate, read-only, rotated in place`, () => {
    assert.equal(flag(node, agent, "--tls-cert"), KUBELET_CLIENT_PEM, `${where(node, agent)}: --tls-cert`);
    assert.equal(flag(node, agent, "--tls-key"), KUBELET_CLIENT_PEM, `${where(node, agent)}: --tls-key`);
    // The directory at the host's own path: kubelet-client-current.pem is a symlink to an
    // absolute path beside it, and the kubelet swaps it on rotation (a file mount would not see it).
    const pki = fileMount(node, agent, KUBELET_CLIENT_PEM);
    assert.equal(pki.v.hostPath?.path, KUBELET_PKI, `${describe(node)}: volume ${pki.v.name} hostPath`);
    assert.equal(pki.v.hostPath?.type, "Directory", `${describe(node)}: volume ${pki.v.name} hostPath type`);
    assert.equal(pki.m.mountPath, pki.v.hostPath.path, `${where(node, agent)}: the kubelet's PKI at the host's path`);
    assert.equal(pki.m.readOnly, true, `${where(node, agent)}: ${KUBELET_PKI} readOnly`);
    // --tls-ca: Warden's CA certificate only, from the ConfigMap.
    const ca = fileMount(node, agent, flag(node, agent, "--tls-ca"));
    assert.deepEqual(volumeSource(ca.v, ca.name), { kind: "ConfigMap", name: WARDEN_CA_CONFIGMAP, key: "ca.crt" },
      `${where(node, agent)}: --tls-ca must be ca.crt of ConfigMap ${WARDEN_CA_CONFIGMAP}`);
    // No shared node credential: the agent's pod mounts no Secret at all.
    for (const v of node.spec.template.spec.volumes) {
      const secrets = [v.secret?.secretName, ...(v.projected?.sources ?? []).map((s) => s.secret?.name)];
      assert.deepEqual(secrets.filter(Boolean), [], `${describe(node)}: volume ${v.name} mounts a Secret`);
    }
    for (const o of objs) {
      assert.ok(!JSON.stringify(o).includes("warden-node-tls"), `${describe(o)} still names warden-node-tls`);
    }
  });

  test(`${k}: the agent's pod: host network, no host PID, every node, node-critical`, () => {
    const s = node.spec.template.spec;
    assert.equal(s.hostNetwork, true, `${describe(node)}: hostNetwork`);
    assert.notEqual(s.hostPID, true, `${describe(node)}: hostPID`);
    assert.equal(s.dnsPolicy, "ClusterFirstWithHostNet", `${describe(node)}: dnsPolicy (to resolve the control Service)`);
    assert.deepEqual(s.tolerations, [{ operator: "Exists" }], `${describe(node)}: tolerations (every taint)`);
    assert.deepEqual(s.nodeSelector, { "kubernetes.io/os": "linux" }, `${describe(node)}: nodeSelector`);
    assert.equal(s.priorityClassName, "system-node-critical", `${describe(node)}: priorityClassName`);
    assert.ok(s.terminationGracePeriodSeconds > 0, `${describe(node)}: terminationGracePeriodSeconds`);
    assert.equal(node.spec.updateStrategy?.type, "RollingUpdate", `${describe(node)}: updateStrategy`);
    assert.equal(node.spec.updateStrategy?.rollingUpdate?.maxUnavailable, 1, `${describe(node)}: maxUnavailable`);
    assert.equal(flag(node, agent, "--node"), "$(NODE_NAME)");
    env(node, agent, "NODE_NAME", "spec.nodeName");
    assert.equal(flag(node, agent, "--forwarder-listen"), "$(HOST_IP):15001");
    env(node, agent, "HOST_IP", "status.hostIP");
    probe(node, agent, "readinessProbe", "/ready", "--metrics");
    probe(node, agent, "livenessProbe", "/metrics", "--metrics");
    noApiToken(objs, node);
  });

  test(`${k}: the gateway runs on the gateway pool only, spread, autoscaled, disruption-budgeted`, () => {
    const s = gateway.spec.template.spec;
    assert.equal(s.nodeSelector?.[POOL_LABEL], "gateway", `${describe(gateway)}: nodeSelector ${POOL_LABEL}`);
    assert.ok((s.tolerations ?? []).some((t) => tolerates(t, GATEWAY_TAINT)),
      `${describe(gateway)}: tolerations must tolerate dedicated=gateway:NoSchedule`);
    for (const t of s.tolerations ?? []) {
      assert.ok(t.key, `${describe(gateway)}: a keyless toleration tolerates every taint`);
    }
    const anti = s.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    const own = gateway.spec.template.metadata.labels;
    const overOwnPods = (t) => {
      const m = Object.entries(t.labelSelector?.matchLabels ?? {});
      return m.length > 0 && m.every(([a, b]) => own[a] === b);
    };
    assert.ok(anti.some((t) => t.topologyKey === "kubernetes.io/hostname" && overOwnPods(t)),
      `${describe(gateway)}: required podAntiAffinity on kubernetes.io/hostname over its own pods`);
    const hpa = objs.find((o) => o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef?.name === gateway.metadata.name);
    assert.ok(hpa, `no HorizontalPodAutoscaler targets ${describe(gateway)}`);
    assert.equal(hpa.apiVersion, "autoscaling/v2", `${describe(hpa)}: apiVersion`);
    assert.ok(hpa.spec.metrics.some((m) => m.resource?.name === "cpu"), `${describe(hpa)}: a CPU metric`);
    assert.ok(hpa.spec.minReplicas >= 2, `${describe(hpa)}: minReplicas >= 2`);
    assert.equal(gateway.spec.replicas, undefined, `${describe(gateway)}: replicas belongs to the HPA`);
    const pdb = objs.find((o) => o.kind === "PodDisruptionBudget" && o.metadata.namespace === "warden-egress");
    assert.equal(pdb?.spec?.minAvailable, 1, "warden-egress: PodDisruptionBudget minAvailable 1");
    assert.deepEqual(pdb.spec.selector.matchLabels, gateway.spec.selector.matchLabels, `${describe(pdb)}: selector`);
  });

  test(`${k}: the gateway's flags, ports, probes, state and identity`, () => {
    const gw = container(gateway, "gateway");
    const s = gateway.spec.template.spec;
    const listen = portOf(flag(gateway, gw, "--listen"));
    assert.ok(listen >= 1024, `${where(gateway, gw)}: --listen port ${listen} needs no capability`);
    assert.equal(containerPort(gateway, gw, "mtls"), listen,
      `${where(gateway, gw)}: the port named mtls (what forwarders use) is --listen's`);
    const svc = find(objs, "Service", "warden-gateway", "warden-egress");
    const sp = svc.spec.ports.find((p) => p.name === "mtls");
    assert.ok(sp && containerPort(gateway, gw, sp.targetPort) === listen, `${describe(svc)}: port mtls targets --listen`);
    probe(gateway, gw, "readinessProbe", "/ready", "--metrics");
    const st = mount(gateway, gw, flag(gateway, gw, "--state-dir"));
    assert.ok(st.v.emptyDir, `${where(gateway, gw)}: --state-dir on an emptyDir`);
    assert.ok(Number(flag(gateway, gw, "--drain-timeout-ms")) < s.terminationGracePeriodSeconds * 1000,
      `${describe(gateway)}: --drain-timeout-ms must end before terminationGracePeriodSeconds`);
    assert.equal(flag(gateway, gw, "--node"), "$(NODE_NAME)");
    env(gateway, gw, "NODE_NAME", "spec.nodeName");
    assert.equal(s.securityContext?.runAsNonRoot, true, `${describe(gateway)}: runAsNonRoot`);
    assert.ok(s.securityContext?.runAsUser > 0, `${describe(gateway)}: a fixed non-root runAsUser`);
    assert.equal(gw.securityContext?.capabilities?.add, undefined, `${where(gateway, gw)}: no capability added`);
    assert.equal(fileMount(gateway, gw, flag(gateway, gw, "--tls-cert")).v.secret?.secretName, "warden-gateway-tls");
    assert.equal(fileMount(gateway, gw, flag(gateway, gw, "--tls-key")).v.secret?.secretName, "warden-gateway-tls");
    noApiToken(objs, gateway);
  });

  test(`${k}: the gateway trusts Warden's CA (--tls-ca) and the cluster's CA for forwarders only`, () => {
    // --tls-ca: Warden's CA, from the gateway's own Secret (warden-control's serving certificate,
    // Warden's node certificates). --client-ca: the cluster's CA, for the kubelets' certificates
    // the forwarders present, and nothing else. Each a file of a whole volume, read-only, so the
    // gateway sees a renewed Secret or a rotated cluster CA in place: no bundle, no init container.
    const gw = container(gateway, "gateway");
    const source = (f) => {
      const fm = fileMount(gateway, gw, f);
      assert.equal(fm.m.readOnly, true, `${where(gateway, gw)}: ${fm.m.mountPath} readOnly`);
      return volumeSource(fm.v, fm.name);
    };
    assert.deepEqual(flags(gateway, gw, "--tls-ca").map(source),
      [{ kind: "Secret", name: "warden-gateway-tls", key: "ca.crt" }],
      `${where(gateway, gw)}: --tls-ca must be ca.crt of Secret warden-gateway-tls`);
    assert.deepEqual(flags(gateway, gw, "--client-ca").map(source),
      [{ kind: "ConfigMap", name: CLUSTER_CA_CONFIGMAP, key: "ca.crt" }],
      `${where(gateway, gw)}: --client-ca must be ca.crt of ConfigMap ${CLUSTER_CA_CONFIGMAP}`);
    const s = gateway.spec.template.spec;
    assert.deepEqual(s.initContainers ?? [], [], `${describe(gateway)}: no init container`);
    for (const { c } of allContainers(gateway)) {
      for (const m of c.volumeMounts ?? []) {
        assert.equal(m.subPath, undefined, `${where(gateway, c)}: volumeMount ${m.name} uses subPath`);
      }
    }
  });

  test(`${k}: the control plane: two replicas, Sync and metrics Service, read-only API access`, () => {
    const c = container(control, "control");
    const s = control.spec.template.spec;
    assert.equal(control.spec.replicas, 2, `${describe(control)}: replicas`);
    assert.ok((c.command ?? []).includes("--kubernetes"), `${where(control, c)}: --kubernetes`);
    assert.equal(portOf(flag(control, c, "--listen")), 9443);
    assert.equal(portOf(flag(control, c, "--metrics")), 9090);
    probe(control, c, "readinessProbe", "/ready", "--metrics");
    const svc = find(objs, "Service", "warden-control", "warden-system");
    assert.deepEqual(sorted(svc.spec.ports.map((p) => p.port)), [9090, 9443], `${describe(svc)}: ports`);
    assert.equal(s.securityContext?.runAsNonRoot, true, `${describe(control)}: runAsNonRoot`);
    assert.equal(s.tolerations, undefined, `${describe(control)}: tolerations (none special)`);
    assert.notEqual(s.automountServiceAccountToken, false, `${describe(control)}: needs its token`);
    assert.equal(mount(control, c, "/etc/warden/tls").v.secret?.secretName, "warden-control-tls");
  });

  test(`${k}: the control plane trusts Warden's CA (gateways) and the cluster's CA (kubelets)`, () => {
    const c = container(control, "control");
    const cas = flags(control, c, "--client-ca").map((f) => {
      const fm = fileMount(control, c, f);
      assert.equal(fm.m.readOnly, true, `${where(control, c)}: ${fm.m.mountPath} readOnly`);
      return volumeSource(fm.v, fm.name);
    });
    assert.deepEqual(cas, [
      { kind: "Secret", name: "warden-control-tls", key: "ca.crt" },
      { kind: "ConfigMap", name: CLUSTER_CA_CONFIGMAP, key: "ca.crt" },
    ], `${where(control, c)}: --client-ca`);
  });

  test(`${k}: RBAC: control reads exactly its kinds; no wildcard; agent and gateway bound to nothing`, () => {
    const role = find(objs, "ClusterRole", "warden-control");
    for (const r of role.rules) {
      assert.deepEqual(sorted(r.verbs), ["get", "list", "watch"], `${describe(role)}: verbs ${r.verbs}`);
    }
    assert.deepEqual(grants(role, "list"), CONTROL_READS, `${describe(role)}: resources`);
    for (const r of objs.filter((o) => ["Role", "ClusterRole"].includes(o.kind))) {
      for (const rule of r.rules ?? []) {
        for (const f of ["verbs", "resources", "apiGroups"]) {
          assert.ok(!(rule[f] ?? []).includes("*"), `${describe(r)}: ${f} has "*"`);
        }
      }
    }
    const crb = find(objs, "ClusterRoleBinding", "warden-control");
    assert.deepEqual(crb.subjects, [{ kind: "ServiceAccount", name: "warden-control", namespace: "warden-system" }]);
  });

  test(`${k}: RBAC: warden-network-admin writes the egress kinds, bound in the protected namespaces`, () => {
    const role = find(objs, "ClusterRole", "warden-network-admin");
    for (const verb of ["create", "update", "patch", "delete"]) {
      assert.deepEqual(grants(role, verb), NETWORK_ADMIN_WRITES, `${describe(role)}: ${verb}`);
    }
    const bound = objs.filter((o) => o.kind === "RoleBinding" && o.roleRef.name === "warden-network-admin");
    assert.deepEqual(sorted(bound.map((b) => b.metadata.namespace)), PROTECTED_NAMESPACES);
    for (const b of bound) {
      assert.deepEqual(b.subjects, [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "warden:network-admins" }],
        `${describe(b)}: subjects`);
    }
    assert.ok(!objs.some((o) => o.kind === "ClusterRoleBinding" && o.roleRef.name === "warden-network-admin"),
      "warden-network-admin must not be bound cluster-wide");
  });

  test(`${k}: every container has requests and limits; one image; no subPath`, () => {
    const images = new Set();
    for (const w of workloads(objs)) {
      for (const { c } of allContainers(w)) {
        for (const kind of ["requests", "limits"]) {
          for (const r of ["cpu", "memory"]) {
            assert.ok(c.resources?.[kind]?.[r], `${where(w, c)}: resources.${kind}.${r}`);
          }
        }
        for (const m of c.volumeMounts ?? []) {
          assert.equal(m.subPath, undefined, `${where(w, c)}: volumeMount ${m.name} uses subPath (never updated)`);
          assert.equal(m.subPathExpr, undefined, `${where(w, c)}: volumeMount ${m.name} uses subPathExpr`);
        }
        images.add(c.image);
      }
    }
    assert.equal(images.size, 1, `containers use different images: ${[...images]}`);
  });

  test(`${k}: every admission policy is bound with Deny`, () => {
    const policies = objs.filter((o) => o.kind === "ValidatingAdmissionPolicy");
    assert.deepEqual(sorted(policies.map((p) => p.metadata.name)),
      ["warden-gateway-pool", "warden-network-objects", "warden-no-net-raw"]);
    for (const p of policies) {
      assert.equal(p.apiVersion, "admissionregistration.k8s.io/v1", `${describe(p)}: apiVersion`);
      const b = objs.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding" && o.spec.policyName === p.metadata.name);
      assert.equal(b.length, 1, `${describe(p)}: one binding`);
      assert.deepEqual(b[0].spec.validationActions, ["Deny"], `${describe(b[0])}: validationActions`);
    }
  });

  if (k === "overlays/cert-manager") {
    test(`${k}: cert-manager issues the two TLS Secrets the base mounts, and no node certificate`, () => {
      const leaves = objs.filter((o) => o.kind === "Certificate" && !o.spec.isCA);
      assert.deepEqual(sorted(leaves.map((c) => c.spec.secretName)), ["warden-control-tls", "warden-gateway-tls"],
        "Certificates other than Warden's CA (the agents present their kubelets' certificates)");
      for (const [secret, ns, usages] of [["warden-control-tls", "warden-system", ["server auth"]],
        ["warden-gateway-tls", "warden-egress", ["server auth", "client auth"]]]) {
        const cert = leaves.find((o) => o.spec.secretName === secret);
        assert.equal(cert.metadata.namespace, ns, `${describe(cert)}: namespace`);
        assert.equal(cert.spec.issuerRef?.name, "warden-ca", `${describe(cert)}: issuerRef`);
        assert.ok(cert.spec.dnsNames?.length > 0, `${describe(cert)}: dnsNames (cert-manager refuses none)`);
        for (const u of usages) assert.ok(cert.spec.usages.includes(u), `${describe(cert)}: usages ${u}`);
      }
      // Warden's CA key stays in cert-manager's namespace: nothing in Warden's namespaces is it.
      const ca = objs.find((o) => o.kind === "Certificate" && o.spec.isCA);
      assert.ok(!["warden-system", "warden-egress"].includes(ca.metadata.namespace), `${describe(ca)}: namespace`);
      const control = objs.find((o) => o.kind === "Certificate" && o.spec.secretName === "warden-control-tls");
      const agentServerName = flag(node, agent, "--tls-server-name");
      assert.ok(control.spec.dnsNames.includes(agentServerName),
        `${describe(control)}: dnsNames must include ${agentServerName} (--tls-server-name)`);
    });
  }

  test(`${k}: every --flag passed is one the binary knows`, () => {
    assert.ok(wardenBinary, "give the warden binary as the first argument (ctest does)");
    const unknown = [];
    for (const w of workloads(objs)) {
      for (const { c } of allContainers(w)) {
        const argv = [...(c.command ?? []), ...(c.args ?? [])];
        if (argv[0] !== "warden") continue;
        const help = execFileSync(wardenBinary, [argv[1], "--help"], { encoding: "utf8" });
        for (const a of argv.filter((x) => x.startsWith("--"))) {
          // boost::program_options lists each as "  --name arg" (or "  -h [ --help ]").
          const known = new RegExp(`^\\s+(-\\w \\[ )?${a}( \\]|\\s|$)`, "m");
          if (!known.test(help)) unknown.push(`${where(w, c)}: \`warden ${argv[1]}\` has no flag ${a}`);
        }
      }
    }
    assert.deepEqual(unknown, [], unknown.join("\n"));
  });
}
