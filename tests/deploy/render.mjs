// Renders deploy/'s kustomizations with `kubectl kustomize` and finds objects in the result.
// A missing kubectl is a failure, not a skip: these tests are the deployment's only check here.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEPLOY_DIR = join(SOURCE_DIR, "deploy");
// Every kustomization the tests render: the base and each overlay.
export const KUSTOMIZATIONS = ["base", "overlays/cert-manager"];

function kubectl() {
  const path = process.env.KUBECTL || "/usr/bin/kubectl";
  if (!existsSync(path)) {
    throw new Error(`kubectl not found at ${path} (set KUBECTL): deploy/ cannot be rendered`);
  }
  return path;
}

// The objects of one kustomization (relative to deploy/), as plain JSON values.
export function render(kustomization) {
  const out = execFileSync(kubectl(), ["kustomize", join(DEPLOY_DIR, kustomization)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return parseAllDocuments(out)
    .map((d) => {
      if (d.errors.length) throw new Error(`${kustomization}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((o) => o);
}

export function describe(o) {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : "";
  return `${o.kind} ${ns}${o.metadata?.name}`;
}

// The one object of that kind and name (and namespace, when given); throws if absent.
export function find(objects, kind, name, namespace) {
  const found = objects.filter(
    (o) =>
      o.kind === kind &&
      o.metadata?.name === name &&
      (namespace === undefined || o.metadata?.namespace === namespace),
  );
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} ${namespace ?? "*"}/${name}, found ${found.length}`);
  }
  return found[0];
}
