// Evaluates a ValidatingAdmissionPolicy and its binding for one admission request, in the order
// the API server does: the policy's matchConstraints and the binding's matchResources (rules and
// namespace selector), then matchConditions, then variables (in order), then every validation.
// The CEL is the policy's own, run by @bufbuild/cel with the strings extension (Kubernetes' CEL
// environment includes it). What is not emulated: Kubernetes' type checking against the OpenAPI
// schema, CEL cost limits, `params`, `authorizer`, objectSelector.
import { run, isCelError } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";

// JSON as Kubernetes gives it to CEL: objects are maps (absent fields make has() false), whole
// numbers are ints.
export function toCel(v) {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") {
    return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  }
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return v;
}

function evaluate(expr, bindings) {
  return run(expr, bindings, { funcs: strings });
}

// Kubernetes label selector semantics (matchLabels and matchExpressions, ANDed).
export function selects(selector, labels) {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]);
    const ok = {
      In: inValues,
      NotIn: !inValues,
      Exists: has,
      DoesNotExist: !has,
    }[e.operator];
    if (ok === undefined) throw new Error(`unknown selector operator ${e.operator}`);
    if (!ok) return false;
  }
  return true;
}

function ruleMatches(rule, req) {
  const any = (list, value) => (list ?? []).some((x) => x === "*" || x === value);
  const resource = req.subResource ? `${req.resource}/${req.subResource}` : req.resource;
  return (
    any(rule.apiGroups, req.group) &&
    any(rule.apiVersions, req.version) &&
    any(rule.operations, req.operation) &&
    any(rule.resources, resource)
  );
}

// Who sends a request when the test case does not say: an ordinary authenticated user, in no
// group that any policy exempts.
export const DEFAULT_USER = Object.freeze({ username: "alice", groups: ["system:authenticated"] });

// req: {group, version, resource, subResource, kind, operation, namespace, name,
//       namespaceLabels, userInfo: {username, groups}, object, oldObject}
// userInfo defaults to DEFAULT_USER; a userInfo without groups gets ["system:authenticated"] (the
// API server adds that group to every authenticated user).
// Returns {matched, allowed, denials: [message], errors: [message]}.
export function admit(policy, binding, req) {
  const result = { matched: false, allowed: true, denials: [], errors: [] };
  const p = policy.spec;
  const b = binding.spec;
  if (b.policyName !== policy.metadata.name) throw new Error("binding names another policy");
  // The API server always sets kubernetes.io/metadata.name to the namespace's name: a label given
  // by the test case cannot override it.
  const nsLabels = { ...(req.namespaceLabels ?? {}), "kubernetes.io/metadata.name": req.namespace };
  if (!(p.matchConstraints?.resourceRules ?? []).some((r) => ruleMatches(r, req))) return result;
  if (!selects(p.matchConstraints.namespaceSelector, nsLabels)) return result;
  const mr = b.matchResources ?? {};
  if (mr.resourceRules && !mr.resourceRules.some((r) => ruleMatches(r, req))) return result;
  if ((mr.excludeResourceRules ?? []).some((r) => ruleMatches(r, req))) return result;
  if (!selects(mr.namespaceSelector, nsLabels)) return result;

  const request = {
    kind: { group: req.group, version: req.version, kind: req.kind ?? "Pod" },
    resource: { group: req.group, version: req.version, resource: req.resource },
    subResource: req.subResource ?? "",
    name: req.name ?? req.object?.metadata?.name ?? "",
    namespace: req.namespace,
    operation: req.operation,
    userInfo: req.userInfo
      ? { groups: ["system:authenticated"], ...req.userInfo }
      : { ...DEFAULT_USER, groups: [...DEFAULT_USER.groups] },
    dryRun: false,
  };
  const variables = new Map();
  const bindings = {
    object: toCel(req.object ?? null),
    oldObject: toCel(req.oldObject ?? null),
    request: toCel(request),
    namespaceObject: toCel({ metadata: { name: req.namespace, labels: nsLabels } }),
    params: null,
    variables,
  };
  // A failing policy refuses (failurePolicy Fail), so an error is both an error and a denial.
  const failed = (what, err) => {
    const m = `${policy.metadata.name}: ${what}: ${err.message ?? err}`;
    result.errors.push(m);
    result.denials.push(m);
    result.allowed = false;
  };
  if ((p.failurePolicy ?? "Fail") !== "Fail") throw new Error("only failurePolicy Fail is emulated");

  for (const c of p.matchConditions ?? []) {
    const v = evaluate(c.expression, bindings);
    if (isCelError(v) || typeof v !== "boolean") {
      failed(`matchCondition ${c.name}`, isCelError(v) ? v : `not a bool: ${v}`);
      result.matched = true;
      return result;
    }
    if (!v) return result;
  }
  result.matched = true;
  for (const v of p.variables ?? []) {
    const value = evaluate(v.expression, bindings);
    if (isCelError(value)) failed(`variable ${v.name}`, value);
    variables.set(v.name, value);
  }
  if (result.errors.length) return result;
  for (const [i, val] of (p.validations ?? []).entries()) {
    const ok = evaluate(val.expression, bindings);
    if (isCelError(ok) || typeof ok !== "boolean") {
      failed(`validations[${i}]`, isCelError(ok) ? ok : `not a bool: ${ok}`);
      continue;
    }
    if (ok) continue;
    let message = val.message ?? `failed expression: ${val.expression}`;
    if (val.messageExpression) {
      const m = evaluate(val.messageExpression, bindings);
      if (isCelError(m) || typeof m !== "string") {
        // Kubernetes falls back to `message`; the test wants the expression to work.
        result.errors.push(`${policy.metadata.name}: validations[${i}].messageExpression: ${m}`);
      } else {
        message = m;
      }
    }
    result.allowed = false;
    result.denials.push(message);
  }
  return result;
}
