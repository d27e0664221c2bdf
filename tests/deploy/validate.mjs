#!/usr/bin/env node
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Offline validation of the Kubernetes manifests in deploy/kubernetes
// (ctest label "deploy": deploy.manifests, deploy.policy_negative).
//
//   node tests/deploy/validate.mjs [--root REPO]              validate
//   node tests/deploy/validate.mjs [--root REPO] --self-test  negative tests
//
// Needs the exact npm packages of package-lock.json, installed offline-ready
// by scripts/install-deps.sh (npm ci --prefix tests/deploy); nothing here
// touches the network. REPO defaults to the checkout this script is in.
//
// Validation, for deploy/kubernetes and deploy/kubernetes/uninstall:
//  RENDER  kustomization.yaml may hold only apiVersion, kind and resources
//          (plain files), so that its rendering is those files concatenated
//          in order; every document must be of a known apiVersion/kind
//          (KINDS below) and no two may share kind/namespace/name.
//  SCHEMA  kubernetes-models (generated from the Kubernetes OpenAPI schema):
//          wrong types, missing required fields, bad formats and enums.
//  TYPES   unknown fields: each document becomes a TypeScript constant of its
//          kubernetes-types type ("export const d: DaemonSet = {...}") and
//          tsc --strict --noEmit (the compiler API, in memory) reports every
//          excess property (TS2353/TS2561) and wrong type, mapped back to the
//          file, the document and the field's path.
//  POLICY  our own rules (RULES below, one entry per rule), on every pod
//          template: "POLICY: <file> <kind>/<name> <container>: <rule>: <what>".
//
// --self-test applies one mutation at a time (MUTATIONS below) to the real
// manifests in memory and asserts that each is rejected by the expected check
// and that the unmutated manifests pass. It fails if any mutation is accepted.
//
// Exit status: 0 all good, 1 a check (or a self-test assertion) failed,
// 2 usage or missing dependencies.

import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const INSTALL_HINT = "run scripts/install-deps.sh (npm ci --prefix tests/deploy)";

// ---------------------------------------------------------------- arguments

let root = resolve(HERE, "..", "..");
let selfTest = false;
{
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === "--self-test") selfTest = true;
		else if (argv[i] === "--root" && i + 1 < argv.length) root = resolve(argv[++i]);
		else {
			console.error("usage: validate.mjs [--root REPO] [--self-test]");
			process.exit(2);
		}
	}
}

// ------------------------------------------------------------- dependencies

// Checked before anything is imported, so that a missing or stale install
// fails with the way to fix it rather than an ERR_MODULE_NOT_FOUND.
{
	const pkg = JSON.parse(readFileSync(join(HERE, "package.json"), "utf8"));
	const bad = [];
	for (const [name, want] of Object.entries(pkg.dependencies)) {
		const p = join(HERE, "node_modules", name, "package.json");
		if (!existsSync(p)) { bad.push(`${name} missing`); continue; }
		const have = JSON.parse(readFileSync(p, "utf8")).version;
		if (have !== want) bad.push(`${name} is ${have}, package.json pins ${want}`);
	}
	if (bad.length) {
		console.error(`validate: tests/deploy/node_modules: ${bad.join("; ")}`);
		console.error(`validate: ${INSTALL_HINT}`);
		process.exit(2);
	}
}

const YAML = await import("yaml");
const ts = (await import("typescript")).default;

// apiVersion/kind -> the kubernetes-models class (schema) and the
// kubernetes-types interface (unknown fields). A kind not listed fails.
const KINDS = {
	"v1/Namespace": ["v1/Namespace", "core/v1"],
	"v1/ServiceAccount": ["v1/ServiceAccount", "core/v1"],
	"v1/ConfigMap": ["v1/ConfigMap", "core/v1"],
	"v1/Secret": ["v1/Secret", "core/v1"],
	"v1/Service": ["v1/Service", "core/v1"],
	"apps/v1/DaemonSet": ["apps/v1/DaemonSet", "apps/v1"],
	"apps/v1/Deployment": ["apps/v1/Deployment", "apps/v1"],
	"batch/v1/Job": ["batch/v1/Job", "batch/v1"],
	"rbac.authorization.k8s.io/v1/Role": ["rbac.authorization.k8s.io/v1/Role", "rbac/v1"],
	"rbac.authorization.k8s.io/v1/RoleBinding": ["rbac.authorization.k8s.io/v1/RoleBinding", "rbac/v1"],
	"rbac.authorization.k8s.io/v1/ClusterRole": ["rbac.authorization.k8s.io/v1/ClusterRole", "rbac/v1"],
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": ["rbac.authorization.k8s.io/v1/ClusterRoleBinding", "rbac/v1"],
};
const MODELS = {};
for (const [key, [model]] of Object.entries(KINDS)) {
	const kind = key.slice(key.lastIndexOf("/") + 1);
	MODELS[key] = (await import(`kubernetes-models/${model}`))[kind];
}

// ------------------------------------------------------------------ loading

// The two kustomizations; "role" selects which policy applies where.
const SETS = [
	{ role: "main", dir: "deploy/kubernetes" },
	{ role: "uninstall", dir: "deploy/kubernetes/uninstall" },
];
const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "resources"]);

function parseYaml(text, file) {
	const docs = [];
	// YAML 1.1, as the API machinery reads it (sigs.k8s.io/yaml): "on" and
	// "yes" are booleans, 0644 is octal.
	for (const d of YAML.parseAllDocuments(text, { version: "1.1", uniqueKeys: true, prettyErrors: true })) {
		if (d.errors.length || d.warnings.length) {
			throw new Error(`${file}: YAML: ${[...d.errors, ...d.warnings].map((e) => e.message).join("; ")}`);
		}
		const obj = d.toJS();
		if (obj !== null && obj !== undefined) docs.push(obj);
	}
	return docs;
}

// Reads a kustomization and its resources as they are on disk; the checks
// (including the kustomization's own) run on this in-memory copy, which is
// what --self-test mutates.
function loadSet({ role, dir }) {
	const kfile = join(dir, "kustomization.yaml");
	const [kustomization] = parseYaml(readFileSync(join(root, kfile), "utf8"), kfile);
	const files = [];
	for (const r of Array.isArray(kustomization?.resources) ? kustomization.resources : []) {
		if (typeof r !== "string" || r.includes("://") || isAbsolute(r)) {
			files.push({ file: `${kfile}: resource ${JSON.stringify(r)}`, error: "not a relative file path" });
			continue;
		}
		const file = relative(root, resolve(root, dir, r));
		const abs = join(root, file);
		if (!existsSync(abs) || !statSync(abs).isFile()) {
			files.push({ file, error: "not a file (a directory or base would not be a plain concatenation)" });
			continue;
		}
		try {
			files.push({ file, docs: parseYaml(readFileSync(abs, "utf8"), file) });
		} catch (e) {
			files.push({ file, error: e.message });
		}
	}
	return { role, dir, kfile, kustomization, files };
}

// --------------------------------------------------------------- the checks

const kindKey = (o) => `${o?.apiVersion}/${o?.kind}`;
const ident = (o) => `${o?.kind}/${o?.metadata?.name}`;

// Every document of a set: { file, index (1-based within the file), obj }.
function documents(set) {
	const out = [];
	for (const f of set.files) (f.docs || []).forEach((obj, i) => out.push({ file: f.file, index: i + 1, obj }));
	return out;
}

function renderCheck(set, out) {
	const k = set.kustomization;
	if (!k || typeof k !== "object") {
		out.push({ check: "render", msg: `RENDER: ${set.kfile}: empty or not a mapping` });
		return;
	}
	for (const key of Object.keys(k)) {
		if (!KUSTOMIZATION_KEYS.has(key)) {
			out.push({ check: "render", msg: `RENDER: ${set.kfile}: key "${key}" is not supported: only apiVersion, kind and resources keep the rendering equal to the files concatenated (put transformations in an overlay of your own)` });
		}
	}
	if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization") {
		out.push({ check: "render", msg: `RENDER: ${set.kfile}: not a kustomize.config.k8s.io/v1beta1 Kustomization` });
	}
	if (!Array.isArray(k.resources) || k.resources.length === 0) {
		out.push({ check: "render", msg: `RENDER: ${set.kfile}: resources must be a non-empty list` });
	}
	for (const f of set.files) if (f.error) out.push({ check: "render", msg: `RENDER: ${f.file}: ${f.error}` });
	const seen = new Map();
	for (const d of documents(set)) {
		const where = `${d.file} doc ${d.index} ${ident(d.obj)}`;
		if (typeof d.obj !== "object" || Array.isArray(d.obj)) {
			out.push({ check: "render", msg: `RENDER: ${d.file} doc ${d.index}: not a mapping` });
			continue;
		}
		if (!KINDS[kindKey(d.obj)]) {
			out.push({ check: "render", msg: `RENDER: ${where}: unknown apiVersion/kind ${kindKey(d.obj)} (known: ${Object.keys(KINDS).join(", ")})` });
		}
		const id = `${kindKey(d.obj)}/${d.obj.metadata?.namespace ?? ""}/${d.obj.metadata?.name}`;
		if (seen.has(id)) out.push({ check: "render", msg: `RENDER: ${where}: same kind/namespace/name as ${seen.get(id)}` });
		else seen.set(id, `${d.file} doc ${d.index}`);
	}
}

function schemaCheck(set, out) {
	for (const d of documents(set)) {
		const Model = MODELS[kindKey(d.obj)];
		if (!Model) continue; // reported by renderCheck
		try {
			new Model(structuredClone(d.obj)).validate();
		} catch (e) {
			const errs = e.errors || [{ instancePath: "", message: e.message }];
			for (const x of errs) {
				const extra = x.params?.allowedValues ? ` (${x.params.allowedValues.join(", ")})` : "";
				out.push({ check: "schema", msg: `SCHEMA: ${d.file} doc ${d.index} ${ident(d.obj)}: ${x.instancePath || "/"}: ${x.message}${extra}` });
			}
		}
	}
}

// JSON text of v, one property or element per line, and the path of each line
// (the property it starts), to map a compiler diagnostic back to a field.
function serialize(v, path, indent, prefix, suffix, lines) {
	const isArr = Array.isArray(v) && v.length > 0;
	const isObj = v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0;
	if (!isArr && !isObj) {
		lines.push({ text: indent + prefix + JSON.stringify(v === undefined ? null : v) + suffix, path });
		return lines;
	}
	const keys = isArr ? v.map((_, i) => i) : Object.keys(v);
	lines.push({ text: indent + prefix + (isArr ? "[" : "{"), path });
	keys.forEach((k, i) => {
		const p = isArr ? "" : `${JSON.stringify(k)}: `;
		serialize(v[k], [...path, k], indent + "  ", p, i < keys.length - 1 ? "," : "", lines);
	});
	lines.push({ text: indent + (isArr ? "]" : "}") + suffix, path });
	return lines;
}

const fmtPath = (p) => p.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("").replace(/^\./, "") || "(document)";

// All sets at once: one compiler run for the manifests (and for every
// self-test variant), files served from memory next to node_modules.
function typesCheck(sets, outs) {
	const files = new Map(); // virtual path -> { text, lines, docs }
	sets.forEach((set, si) => {
		const imports = new Map();
		const lines = [];
		const docs = [];
		documents(set).forEach((d, di) => {
			const entry = KINDS[kindKey(d.obj)];
			if (!entry) return;
			const kind = d.obj.kind;
			const mod = `kubernetes-types/${entry[1]}`;
			const alias = `${kind}_${entry[1].replace(/\W/g, "_")}`;
			imports.set(alias, `import type { ${kind} as ${alias} } from "${mod}";`);
			const first = lines.length;
			serialize(d.obj, [], "", `export const d${di}: ${alias} = `, ";", lines);
			docs.push({ first, last: lines.length - 1, d });
		});
		const head = [...imports.values()];
		const all = [...head.map((text) => ({ text, path: [] })), ...lines];
		for (const x of docs) { x.first += head.length; x.last += head.length; }
		const name = join(HERE, `.manifests-${si}.ts`);
		files.set(name, { text: all.map((l) => l.text).join("\n") + "\n", lines: all, docs, out: outs[si] });
	});
	const options = {
		strict: true, noEmit: true, target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ESNext,
		moduleResolution: ts.ModuleResolutionKind.Node10, types: [], skipLibCheck: true,
	};
	const host = ts.createCompilerHost(options);
	const { getSourceFile, fileExists, readFile } = host;
	host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
	host.readFile = (f) => (files.has(f) ? files.get(f).text : readFile.call(host, f));
	host.getSourceFile = (f, lang, ...rest) =>
		files.has(f) ? ts.createSourceFile(f, files.get(f).text, lang, true) : getSourceFile.call(host, f, lang, ...rest);
	const program = ts.createProgram([...files.keys()], options, host);
	const diags = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
	for (const d of diags) outs[0].push({ check: "types", msg: `TYPES: compiler: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}` });
	for (const [name, f] of files) {
		const sf = program.getSourceFile(name);
		for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
			const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
			const doc = f.docs.find((x) => line >= x.first && line <= x.last);
			const text = `TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
			if (!doc) {
				f.out.push({ check: "types", msg: `TYPES: (generated line ${line + 1}): ${text}` });
				continue;
			}
			f.out.push({ check: "types", code: d.code, msg: `TYPES: ${doc.d.file} doc ${doc.d.index} ${ident(doc.d.obj)}: ${fmtPath(f.lines[line].path)}: ${text}` });
		}
	}
}

// ------------------------------------------------------------------- policy

const DAEMON = { kind: "DaemonSet", name: "sockaccel", container: "sockacceld" };
const DRAIN = { kind: "DaemonSet", name: "sockaccel-drain" };
// capabilities.add allowed per workload (kind/name); any other adds nothing
const CAP_ALLOW = {
	"DaemonSet/sockaccel": ["BPF", "NET_ADMIN", "PERFMON"],
	"DaemonSet/sockaccel-drain": ["BPF", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"],
};
const BPFFS = "/sys/fs/bpf";
const CGROUP_PATHS = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
const CONFIG_DIR = "/etc/sockaccel";
const STATUS_CMD = "/usr/sbin/sockaccelctl";
// a word that tears the fast path down (or removes pins) in a command
const TEARDOWN = /(^|[^\w-])(disable|rm|rmdir|unlink|shred)([^\w-]|$)|(^|\s)-delete(\s|$)|--unpin/;

function projectVersion() {
	const text = readFileSync(join(root, "CMakeLists.txt"), "utf8");
	const m = /project\s*\(\s*sockaccel\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)/.exec(text);
	if (!m) throw new Error("CMakeLists.txt: no project(sockaccel VERSION x.y.z ...)");
	return m[1];
}

// Pod templates of a set's workloads: { file, obj, pod (PodSpec), meta }.
function workloads(set) {
	const out = [];
	for (const d of documents(set)) {
		const o = d.obj;
		let tpl = null;
		if (["DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job"].includes(o?.kind)) tpl = o.spec?.template;
		else if (o?.kind === "CronJob") tpl = o.spec?.jobTemplate?.spec?.template;
		else if (o?.kind === "Pod") tpl = o;
		if (tpl) out.push({ file: d.file, obj: o, pod: tpl.spec || {}, meta: tpl.metadata || {} });
	}
	return out;
}
const containersOf = (pod) => [
	...(pod.initContainers || []), ...(pod.containers || []), ...(pod.ephemeralContainers || []),
];
const argvOf = (c) => [...(c.command || []), ...(c.args || [])].map(String);
// "--name=value" or "--name value"
function flag(argv, name) {
	for (let i = 0; i < argv.length; i++) {
		if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
		if (argv[i] === `--${name}` && i + 1 < argv.length) return argv[i + 1];
	}
	return undefined;
}
const below = (p, dir) => typeof p === "string" && p.startsWith(dir.replace(/\/+$/, "") + "/");
const atOrBelow = (p, dir) => typeof p === "string" && (p === dir || below(p, dir));
const find = (set, spec) => workloads(set).find((w) => w.obj.kind === spec.kind && w.obj.metadata?.name === spec.name);
const daemonOf = (set) => {
	const w = find(set, DAEMON);
	return w && { w, c: (w.pod.containers || []).find((c) => c.name === DAEMON.container) };
};
// the command lines a container runs: its own, its probes', its hooks'
function commandsOf(c) {
	const out = [{ what: "command/args", argv: argvOf(c) }];
	for (const p of ["readinessProbe", "livenessProbe", "startupProbe"]) {
		if (c[p]?.exec) out.push({ what: p, argv: (c[p].exec.command || []).map(String) });
	}
	for (const h of ["preStop", "postStart"]) {
		if (c.lifecycle?.[h]?.exec) out.push({ what: `lifecycle.${h}`, argv: (c.lifecycle[h].exec.command || []).map(String) });
	}
	return out;
}

// One entry per rule: name, what it asks, and its check. check(ctx, v) calls
// v(workload, container-or-null, what was found) for each violation; ctx is
// { set (one kustomization: role "main" or "uninstall"), version }.
const RULES = [
	{
		name: "security-context",
		description: "no container is privileged; every one sets allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities.drop: [ALL]",
		check({ set }, v) {
			for (const w of workloads(set)) for (const c of containersOf(w.pod)) {
				const sc = c.securityContext || {};
				if (sc.privileged === true) v(w, c, "privileged: true");
				if (sc.allowPrivilegeEscalation !== false) v(w, c, `allowPrivilegeEscalation is ${JSON.stringify(sc.allowPrivilegeEscalation)}, not false`);
				if (sc.readOnlyRootFilesystem !== true) v(w, c, `readOnlyRootFilesystem is ${JSON.stringify(sc.readOnlyRootFilesystem)}, not true`);
				const drop = sc.capabilities?.drop;
				if (!Array.isArray(drop) || !drop.includes("ALL")) v(w, c, `capabilities.drop is ${JSON.stringify(drop)}, not [ALL]`);
			}
		},
	},
	{
		name: "capabilities",
		description: `capabilities.add within the workload's allowlist (${Object.entries(CAP_ALLOW).map(([k, a]) => `${k}: ${a.join(" ")}`).join("; ")}; others: none), no CAP_ prefix; no hostIPC; hostPID only in ${DRAIN.kind}/${DRAIN.name}`,
		check({ set }, v) {
			for (const w of workloads(set)) {
				const allow = CAP_ALLOW[ident(w.obj)] || [];
				for (const c of containersOf(w.pod)) {
					for (const cap of c.securityContext?.capabilities?.add || []) {
						if (/^CAP_/i.test(cap)) v(w, c, `capability ${cap}: no CAP_ prefix in Kubernetes`);
						else if (!allow.includes(cap)) v(w, c, `capability ${cap} is not in the allowlist [${allow.join(", ")}]`);
					}
				}
				if (w.pod.hostIPC === true) v(w, null, "hostIPC: true");
				if (w.pod.hostPID === true && ident(w.obj) !== `${DRAIN.kind}/${DRAIN.name}`) v(w, null, "hostPID: true outside the drain");
			}
		},
	},
	{
		name: "required-mounts",
		description: `the daemon container mounts the host's bpffs (hostPath ${BPFFS}, Directory) read-write at ${BPFFS}, a hostPath cgroup2 (${CGROUP_PATHS.join(" or ")}) read-only with --cgroup= at or below it, the ConfigMap as a directory at ${CONFIG_DIR} with --config= a file in it, and --pin-dir= below the bpffs mount`,
		check({ set }, v) {
			if (set.role !== "main") return;
			const dm = daemonOf(set);
			if (!dm) return; // reported by no-teardown (placement)
			const { w, c } = dm;
			if (!c) { v(w, null, `no container named ${DAEMON.container}`); return; }
			const vols = new Map((w.pod.volumes || []).map((x) => [x.name, x]));
			const mounts = (c.volumeMounts || []).map((m) => ({ m, vol: vols.get(m.name) }));
			const argv = argvOf(c);
			const subPath = (m) => m.subPath !== undefined || m.subPathExpr !== undefined;
			// bpffs
			const bpf = mounts.filter(({ vol }) => vol?.hostPath?.path === BPFFS);
			if (!bpf.length) v(w, c, `no mount of a hostPath ${BPFFS} volume`);
			for (const { m, vol } of bpf) {
				if (vol.hostPath.type !== "Directory") v(w, c, `bpffs volume ${vol.name}: hostPath type ${JSON.stringify(vol.hostPath.type)}, not Directory`);
				if (m.mountPath !== BPFFS) v(w, c, `bpffs mounted at ${m.mountPath}, not ${BPFFS}`);
				if (m.readOnly === true) v(w, c, "bpffs mounted read-only (the daemon pins there)");
				if (subPath(m)) v(w, c, "bpffs mounted with a subPath");
			}
			const pinDir = flag(argv, "pin-dir");
			if (!bpf.some(({ m }) => below(pinDir, m.mountPath))) v(w, c, `--pin-dir=${pinDir} is not below the bpffs mount`);
			// cgroup
			const cg = mounts.filter(({ vol }) => CGROUP_PATHS.includes(vol?.hostPath?.path));
			if (!cg.length) v(w, c, `no mount of a hostPath ${CGROUP_PATHS.join(" or ")} volume`);
			for (const { m } of cg) {
				if (m.readOnly !== true) v(w, c, `cgroup mount ${m.mountPath} is not readOnly`);
				if (subPath(m)) v(w, c, "cgroup mounted with a subPath");
			}
			const cgroup = flag(argv, "cgroup");
			if (!cg.some(({ m }) => atOrBelow(cgroup, m.mountPath))) v(w, c, `--cgroup=${cgroup} is not at or below the cgroup mount`);
			// config
			const cfg = mounts.filter(({ vol }) => vol?.configMap);
			for (const { m } of cfg) {
				if (subPath(m)) v(w, c, `ConfigMap mounted at ${m.mountPath} with subPath ${JSON.stringify(m.subPath ?? m.subPathExpr)}: the kubelet's updates never reach a subPath`);
			}
			const cfgAt = cfg.filter(({ m }) => m.mountPath.replace(/\/+$/, "") === CONFIG_DIR);
			if (!cfgAt.length) v(w, c, `no ConfigMap volume mounted at ${CONFIG_DIR}`);
			for (const { m, vol } of cfgAt) {
				const cm = documents(set).find((d) => d.obj.kind === "ConfigMap" && d.obj.metadata?.name === vol.configMap.name);
				if (!cm) v(w, c, `ConfigMap ${vol.configMap.name} is not in this kustomization`);
				const config = flag(argv, "config");
				const key = typeof config === "string" && below(config, CONFIG_DIR) ? config.slice(CONFIG_DIR.length + 1) : undefined;
				if (!key || key.includes("/")) v(w, c, `--config=${config} is not a file in ${CONFIG_DIR}`);
				else if (cm && !vol.configMap.items && !(key in (cm.obj.data || {}))) v(w, c, `--config=${config}: ConfigMap ${vol.configMap.name} has no key ${key}`);
			}
		},
	},
	{
		name: "no-teardown",
		description: `no lifecycle hook on the daemon's containers; nothing in the main kustomization runs disable/rm/unlink; ${DRAIN.kind}/${DRAIN.name} only in uninstall/ (and the daemon not there)`,
		check({ set }, v) {
			const ws = workloads(set);
			if (set.role === "main") {
				const d = find(set, DAEMON);
				if (!d) v({ file: set.kfile, obj: { kind: DAEMON.kind, metadata: { name: DAEMON.name } } }, null, "the daemon DaemonSet is missing");
				for (const c of d ? containersOf(d.pod) : []) {
					if (c.lifecycle) v(d, c, `lifecycle ${Object.keys(c.lifecycle).join(", ")}: the pins must outlive the pod`);
				}
				for (const w of ws) {
					if (w.obj.metadata?.name === DRAIN.name) v(w, null, "the drain belongs in uninstall/ only");
					for (const c of containersOf(w.pod)) for (const { what, argv } of commandsOf(c)) {
						if (TEARDOWN.test(argv.join(" "))) v(w, c, `${what} tears down: ${JSON.stringify(argv)}`);
					}
				}
			} else {
				if (!find(set, DRAIN)) v({ file: set.kfile, obj: { kind: DRAIN.kind, metadata: { name: DRAIN.name } } }, null, "the drain DaemonSet is missing from uninstall/");
				for (const w of ws) if (w.obj.metadata?.name === DAEMON.name) v(w, null, "the daemon must not be in uninstall/");
			}
		},
	},
	{
		name: "probes",
		description: `the daemon container has readinessProbe and livenessProbe, both exec ${STATUS_CMD} status --degraded-ok`,
		check({ set }, v) {
			if (set.role !== "main") return;
			const dm = daemonOf(set);
			if (!dm?.c) return; // reported by required-mounts / no-teardown
			for (const p of ["readinessProbe", "livenessProbe"]) {
				const probe = dm.c[p];
				if (!probe) { v(dm.w, dm.c, `no ${p}`); continue; }
				const cmd = probe.exec?.command;
				if (!Array.isArray(cmd)) { v(dm.w, dm.c, `${p} is not exec`); continue; }
				if (cmd[0] !== STATUS_CMD || !cmd.includes("status") || !cmd.includes("--degraded-ok")) {
					v(dm.w, dm.c, `${p} runs ${JSON.stringify(cmd)}, not ${STATUS_CMD} status --degraded-ok`);
				}
			}
		},
	},
	{
		name: "tolerations",
		description: "every pod tolerates every taint: {operator: Exists} with no key or effect",
		check({ set }, v) {
			for (const w of workloads(set)) {
				const t = w.pod.tolerations || [];
				if (!t.some((x) => x.operator === "Exists" && !x.key && !x.effect)) v(w, null, `tolerations ${JSON.stringify(t)} lack {operator: Exists}`);
			}
		},
	},
	{
		name: "priority-class",
		description: "every pod has priorityClassName system-node-critical",
		check({ set }, v) {
			for (const w of workloads(set)) {
				if (w.pod.priorityClassName !== "system-node-critical") v(w, null, `priorityClassName is ${JSON.stringify(w.pod.priorityClassName)}`);
			}
		},
	},
	{
		name: "resources",
		description: "every container has requests and limits for cpu and memory",
		check({ set }, v) {
			for (const w of workloads(set)) for (const c of containersOf(w.pod)) {
				for (const k of ["requests", "limits"]) for (const r of ["cpu", "memory"]) {
					if (c.resources?.[k]?.[r] === undefined) v(w, c, `no resources.${k}.${r}`);
				}
			}
		},
	},
	{
		name: "service-account-token",
		description: "every pod sets automountServiceAccountToken: false",
		check({ set }, v) {
			for (const w of workloads(set)) {
				if (w.pod.automountServiceAccountToken !== false) v(w, null, `automountServiceAccountToken is ${JSON.stringify(w.pod.automountServiceAccountToken)}`);
			}
		},
	},
	{
		name: "version",
		description: "every image's tag is the project version of CMakeLists.txt; the daemon's prometheus.io/port annotation is the port of --metrics-listen=",
		check({ set, version }, v) {
			for (const w of workloads(set)) for (const c of containersOf(w.pod)) {
				const image = String(c.image ?? "").replace(/@.*$/, "");
				const slash = image.lastIndexOf("/");
				const colon = image.lastIndexOf(":");
				const tag = colon > slash ? image.slice(colon + 1) : undefined;
				if (tag !== version) v(w, c, `image ${c.image}: tag ${tag ?? "(none)"}, project version ${version}`);
			}
			if (set.role !== "main") return;
			const dm = daemonOf(set);
			if (!dm?.c) return;
			const listen = flag(argvOf(dm.c), "metrics-listen");
			const port = listen?.slice(listen.lastIndexOf(":") + 1);
			const ann = dm.w.meta.annotations?.["prometheus.io/port"];
			if (!listen) v(dm.w, dm.c, "no --metrics-listen=");
			else if (ann !== port) v(dm.w, dm.c, `annotation prometheus.io/port ${JSON.stringify(ann)}, --metrics-listen=${listen}`);
			for (const p of dm.c.ports || []) {
				if (p.name === "metrics" && String(p.containerPort) !== port) v(dm.w, dm.c, `port metrics is ${p.containerPort}, --metrics-listen=${listen}`);
			}
		},
	},
];

function policyCheck(set, version, out) {
	for (const rule of RULES) {
		rule.check({ set, version }, (w, c, what) => {
			out.push({ check: `policy:${rule.name}`, msg: `POLICY: ${w.file} ${ident(w.obj)} ${c ? c.name : "(pod)"}: ${rule.name}: ${what}` });
		});
	}
}

// Validates sets of sets (one per variant); returns the findings of each.
function validateVariants(variants, version) {
	const flat = variants.flat();
	const outs = flat.map(() => []);
	flat.forEach((set, i) => {
		renderCheck(set, outs[i]);
		schemaCheck(set, outs[i]);
	});
	typesCheck(flat, outs);
	flat.forEach((set, i) => {
		try {
			policyCheck(set, version, outs[i]);
		} catch (e) {
			outs[i].push({ check: "policy-crash", msg: `POLICY: ${set.dir}: check crashed: ${e.stack}` });
		}
	});
	let k = 0;
	return variants.map((v) => v.map(() => outs[k++]).flat());
}

// ---------------------------------------------------------------- mutations

// Each mutation changes the in-memory manifests in one way and names the
// check that must reject it.
const docOf = (sets, kind, name) => {
	for (const s of sets) for (const d of documents(s)) if (d.obj.kind === kind && d.obj.metadata?.name === name) return d.obj;
	throw new Error(`self-test: no ${kind}/${name} in the manifests`);
};
const ds = (sets) => docOf(sets, "DaemonSet", "sockaccel");
const daemonC = (sets) => ds(sets).spec.template.spec.containers.find((c) => c.name === "sockacceld");
const drainInit = (sets) => docOf(sets, "DaemonSet", "sockaccel-drain").spec.template.spec.initContainers[0];
const mountOf = (sets, pred) => daemonC(sets).volumeMounts.find(pred);
const volName = (sets, pred) => ds(sets).spec.template.spec.volumes.find(pred).name;

const MUTATIONS = [
	// policy
	["privileged: true on the daemon", "policy:security-context", (s) => { daemonC(s).securityContext.privileged = true; }],
	["allowPrivilegeEscalation dropped from the drain", "policy:security-context", (s) => { delete drainInit(s).securityContext.allowPrivilegeEscalation; }],
	["extra capability SYS_MODULE", "policy:capabilities", (s) => { daemonC(s).securityContext.capabilities.add.push("SYS_MODULE"); }],
	["SYS_ADMIN on the daemon", "policy:capabilities", (s) => { daemonC(s).securityContext.capabilities.add.push("SYS_ADMIN"); }],
	["CAP_ prefix", "policy:capabilities", (s) => { daemonC(s).securityContext.capabilities.add[0] = "CAP_BPF"; }],
	["hostPID on the daemon", "policy:capabilities", (s) => { ds(s).spec.template.spec.hostPID = true; }],
	["bpffs mount removed", "policy:required-mounts", (s) => {
		const n = volName(s, (v) => v.hostPath?.path === BPFFS);
		daemonC(s).volumeMounts = daemonC(s).volumeMounts.filter((m) => m.name !== n);
	}],
	["bpffs mounted read-only", "policy:required-mounts", (s) => { mountOf(s, (m) => m.mountPath === BPFFS).readOnly = true; }],
	["cgroup mount writable", "policy:required-mounts", (s) => {
		const n = volName(s, (v) => CGROUP_PATHS.includes(v.hostPath?.path));
		delete mountOf(s, (m) => m.name === n).readOnly;
	}],
	["--cgroup outside the cgroup mount", "policy:required-mounts", (s) => {
		const c = daemonC(s);
		c.args = c.args.map((a) => (a.startsWith("--cgroup=") ? "--cgroup=/sys/fs/cgroup" : a));
	}],
	["subPath on the config mount", "policy:required-mounts", (s) => {
		Object.assign(mountOf(s, (m) => m.mountPath === CONFIG_DIR), { mountPath: `${CONFIG_DIR}/sockaccel.conf`, subPath: "sockaccel.conf" });
	}],
	["--pin-dir outside bpffs", "policy:required-mounts", (s) => {
		const c = daemonC(s);
		c.args = c.args.map((a) => (a.startsWith("--pin-dir=") ? "--pin-dir=/run/sockaccel" : a));
	}],
	["preStop running sockaccelctl disable", "policy:no-teardown", (s) => {
		daemonC(s).lifecycle = { preStop: { exec: { command: ["/usr/sbin/sockaccelctl", "disable"] } } };
	}],
	["rm -rf of the pins in the daemon's command", "policy:no-teardown", (s) => {
		daemonC(s).command = ["/bin/sh", "-c", "rm -rf /sys/fs/bpf/sockaccel; exec /usr/sbin/sockacceld \"$@\"", "--"];
	}],
	["the drain in the main kustomization", "policy:no-teardown", (s) => {
		const drain = structuredClone(docOf(s, "DaemonSet", "sockaccel-drain"));
		s[0].files.push({ file: "deploy/kubernetes/drain.yaml", docs: [drain] });
	}],
	["livenessProbe removed", "policy:probes", (s) => { delete daemonC(s).livenessProbe; }],
	["readinessProbe not --degraded-ok", "policy:probes", (s) => { daemonC(s).readinessProbe.exec.command = ["/usr/sbin/sockaccelctl", "status"]; }],
	["no tolerations", "policy:tolerations", (s) => { delete ds(s).spec.template.spec.tolerations; }],
	["no priorityClassName on the drain", "policy:priority-class", (s) => { delete docOf(s, "DaemonSet", "sockaccel-drain").spec.template.spec.priorityClassName; }],
	["missing memory limit", "policy:resources", (s) => { delete daemonC(s).resources.limits.memory; }],
	["service account token mounted", "policy:service-account-token", (s) => { ds(s).spec.template.spec.automountServiceAccountToken = true; }],
	["wrong image tag", "policy:version", (s) => { drainInit(s).image = "sockaccel:0.0.9"; }],
	["prometheus.io/port differs from --metrics-listen", "policy:version", (s) => { ds(s).spec.template.metadata.annotations["prometheus.io/port"] = "9100"; }],
	// schema (kubernetes-models) and unknown fields (tsc)
	["unknown field in a securityContext", "types", (s) => { daemonC(s).securityContext.privilegd = true; }],
	["unknown field in the PodSpec", "types", (s) => { ds(s).spec.template.spec.bogus = 1; }],
	["replicas in a DaemonSet", "types", (s) => { ds(s).spec.replicas = "x"; }],
	["containerPort: \"abc\"", "schema", (s) => { daemonC(s).ports[0].containerPort = "abc"; }],
	["containerPort: \"abc\" (types)", "types", (s) => { daemonC(s).ports[0].containerPort = "abc"; }],
	["container name missing", "schema", (s) => { delete drainInit(s).name; }],
	["bad enum: imagePullPolicy Sometimes", "schema", (s) => { daemonC(s).imagePullPolicy = "Sometimes"; }],
	["selector missing", "schema", (s) => { delete ds(s).spec.selector; }],
	// rendering
	["kustomization with namePrefix", "render", (s) => { s[0].kustomization.namePrefix = "x-"; }],
	["unknown kind", "render", (s) => { docOf(s, "ConfigMap", "sockaccel-config").kind = "ConfigMapp"; }],
];

// ------------------------------------------------------------------- main

let version;
let base;
try {
	version = projectVersion();
	base = SETS.map(loadSet);
} catch (e) {
	console.error(`validate: ${e.message}`);
	process.exit(1);
}

if (!selfTest) {
	const [found] = validateVariants([base], version);
	for (const f of found) console.log(f.msg);
	const docs = base.map((s) => documents(s).length).reduce((a, b) => a + b, 0);
	if (found.length) {
		console.log(`validate: FAIL: ${found.length} problem(s) in ${SETS.map((s) => s.dir).join(", ")}`);
		process.exit(1);
	}
	console.log(`validate: OK: ${docs} documents in ${SETS.map((s) => s.dir).join(", ")} (render, schema, unknown fields, ${RULES.length} policy rules; project version ${version})`);
	process.exit(0);
}

// --self-test: the unmutated set, then every mutation, in one compiler run
const variants = [structuredClone(base)];
for (const [name, , mutate] of MUTATIONS) {
	const v = structuredClone(base);
	try {
		mutate(v);
	} catch (e) {
		console.error(`validate: self-test: mutation "${name}" cannot apply: ${e.message}`);
		process.exit(1);
	}
	variants.push(v);
}
const results = validateVariants(variants, version);
let failed = 0;
if (results[0].length) {
	failed++;
	console.log("FAIL: the unmutated manifests do not pass:");
	for (const f of results[0]) console.log(`    ${f.msg}`);
} else {
	console.log("ok:   the unmutated manifests pass");
}
const ruleNames = new Set();
MUTATIONS.forEach(([name, expect], i) => {
	const found = results[i + 1];
	ruleNames.add(expect);
	if (found.some((f) => f.check === expect)) {
		console.log(`ok:   ${name}: rejected by ${expect}`);
		for (const f of found.filter((x) => x.check === expect)) console.log(`        ${f.msg}`);
	} else {
		failed++;
		console.log(`FAIL: ${name}: not rejected by ${expect}${found.length ? "; found instead:" : " (accepted)"}`);
		for (const f of found) console.log(`        ${f.msg}`);
	}
});
// every rule of the table has at least one mutation
for (const r of RULES) {
	if (!ruleNames.has(`policy:${r.name}`)) {
		failed++;
		console.log(`FAIL: policy rule ${r.name} has no mutation in the self-test`);
	}
}
console.log(`validate: self-test: ${MUTATIONS.length} mutations, ${failed ? `${failed} FAILED` : "all rejected as expected"}`);
process.exit(failed ? 1 : 0);
