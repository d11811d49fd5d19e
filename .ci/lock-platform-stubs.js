#!/usr/bin/env node
// Why this exists: the registry mirror on our build machines serves only the
// Linux builds of platform-specific optional packages (the darwin/win32/...
// builds of @unrs/resolver-binding-* answer 404). `npm install` then writes a
// lock file without them, and `npm ci` refuses that lock ("Missing: ... from
// lock file"). A lock written against the public registry lists every platform.
//
// This script adds the missing entries with the os/cpu/libc fields npm uses to
// skip them, so `npm ci` accepts the lock and never fetches them on Linux.
// They carry no integrity hash (the mirror cannot give us one); npm on another
// platform fetches them from the registry as it would for any new entry.
//
// Run it after `npm install` changes package-lock.json:
//   node .ci/lock-platform-stubs.js && npm ci
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const lockPath = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

const LIBC = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' };
const OS = new Set(['android', 'darwin', 'freebsd', 'linux', 'openharmony', 'win32']);
const CPU = new Set(['arm', 'arm64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'x64']);

// "@unrs/resolver-binding-linux-arm-gnueabihf" -> { os, cpu, libc }
function platformOf(name) {
  const m = /-(android|darwin|freebsd|linux|openharmony|win32)-([a-z0-9]+)(?:-([a-z]+))?$/.exec(name);
  if (!m || !OS.has(m[1]) || !CPU.has(m[2])) return undefined;
  const platform = { os: [m[1]], cpu: [m[2]] };
  if (m[3] && LIBC[m[3]]) platform.libc = [LIBC[m[3]]];
  return platform;
}

let added = 0;
const unknown = [];
for (const [key, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const depKey = `${key ? `${key}/` : ''}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (packages[depKey] || packages[hoisted]) continue;
    const platform = platformOf(dep);
    if (!platform) {
      unknown.push(dep);
      continue;
    }
    packages[hoisted] = {
      version,
      ...platform,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
    };
    added += 1;
  }
}

if (unknown.length) {
  console.error(`lock-platform-stubs: cannot infer the platform of: ${unknown.join(', ')}`);
  process.exit(1);
}
// npm keeps "packages" sorted by key; keep the diff small by doing the same.
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b, 'en')));
fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platform-stubs: added ${added} entr${added === 1 ? 'y' : 'ies'}`);
