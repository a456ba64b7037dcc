// Headless Chromium (Debian's `chromium`, found by scripts/setup as EDGEWARD_CHROMIUM) driven by the
// pinned npm puppeteer-core, which never downloads a browser of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npm } from './harness.mjs';

/** Flags for headless Chromium as root on a machine without a network: no sandbox (root), no GPU,
 *  no QUIC, and none of the background traffic (component updates, sync, field trials…) a fresh
 *  profile starts. Every host name other than localhost and 127.0.0.1 fails to resolve inside the
 *  browser, so a page that names one (oidc-provider's pages import a web font) sends nothing out. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-domain-reliability', '--no-pings', '--metrics-recording-only',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

/** Launches Chromium with a fresh profile; fails loudly when it is missing (never skips). */
export async function launchBrowser() {
  const executablePath = process.env.EDGEWARD_CHROMIUM;
  if (!executablePath) {
    throw new Error('EDGEWARD_CHROMIUM is unset: run through scripts/test (scripts/setup installs Debian\'s chromium and exports it)');
  }
  const { default: puppeteer } = await npm('puppeteer-core', 'lib/puppeteer/puppeteer-core.js');
  const profile = mkdtempSync(join(tmpdir(), 'edgeward-chromium-'));
  const browser = await puppeteer.launch({
    executablePath, headless: true, userDataDir: profile, args: CHROMIUM_ARGS,
    defaultViewport: { width: 1000, height: 760 },
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
