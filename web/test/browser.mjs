// The web page in a real browser against a real relay (issues 8 and 10).
//
// Runs two cases, each with its own `moql-relay` (serving web/dist), `moql publish --clock`,
// and Debian's Chromium driven by playwright-core:
//   - "webtransport": the page as it loads by default;
//   - "websocket": the page with `?webtransport=0&websocket=1`, so @moq/net has no WebTransport
//     and takes its WebSocket path (QMux over WebSocket) to the relay's HTTP port.
// Each case checks, in order:
//   1. the page connects over the case's transport with moq-lite-05 (WebTransport: the
//      certificate pinned from /certificate.sha256; WebSocket: the relay answered the upgrade
//      with a `qmux-0N.moq-lite-05` Sec-WebSocket-Protocol token);
//   2. the clock broadcast shows up in the page's live announced list;
//   3. its ticks arrive in the page;
//   4. a broadcast the page publishes is read back by `moql subscribe`;
//   5. "fetch group N" shows a past group, frame for frame what the relay's HTTP
//      /fetch?format=frames returns for it;
//   6. when the clock's publisher leaves, the announced list drops it;
//   7. when the relay shuts down, the page sees a clean close (WebTransport: the relay's
//      CLOSE_WEBTRANSPORT_SESSION; WebSocket: its QMux CONNECTION_CLOSE; not a lost
//      connection) and the relay exits 0;
// and saves a screenshot (before 6): screenshot.png and screenshot-websocket.png. Every wait
// is bounded; the whole run (both cases) must end within RUN_TIMEOUT_MS.
//
// Environment: MOQL_RELAY and MOQL (binaries, default ../target/debug/…), CHROMIUM (default
// /usr/bin/chromium), MOQL_WEB_OUT (screenshot directory, default ../target/web),
// MOQL_WEB_DIST (the built page, default ./dist), MOQL_WEB_DEBUG (see below).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const RELAY = process.env.MOQL_RELAY ?? join(root, "target/debug/moql-relay");
const MOQL = process.env.MOQL ?? join(root, "target/debug/moql");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = process.env.MOQL_WEB_OUT ?? join(root, "target/web");
const DIST = process.env.MOQL_WEB_DIST ?? join(here, "../dist");
// MOQL_WEB_DEBUG=1: every console message of the page, and the relay's debug log.
const DEBUG = Boolean(process.env.MOQL_WEB_DEBUG);

const RUN_TIMEOUT_MS = 100_000;
const STEP_TIMEOUT_MS = 15_000;
const CLOCK = "demo/clock";
const CLOCK_TRACK = "clock";

/** The cases: what the page is told, the transport it must report, the screenshot's name. */
const CASES = [
	{ name: "webtransport", query: "", transport: "webtransport", screenshot: "screenshot.png" },
	{ name: "websocket", query: "?webtransport=0&websocket=1", transport: "websocket", screenshot: "screenshot-websocket.png" },
];
const CHAT_TRACK = "chat";

const children = [];
const cleanups = [];
let passed = 0;
let current = "";

function log(message) {
	console.error(`browser${current && ` [${current}]`}: ${message}`);
}

function check(condition, message) {
	if (!condition) throw new Error(message);
}

function pass(message) {
	passed += 1;
	log(`ok ${passed} - ${message}`);
}

function start(command, args) {
	const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
	children.push(child);
	return child;
}

/** Lines of `child`'s stdout, pushed into an array and announced to waiters. */
function lines(child) {
	const seen = [];
	const waiters = new Set();
	createInterface({ input: child.stdout }).on("line", (line) => {
		seen.push(line);
		for (const wake of waiters) wake();
	});
	return {
		seen,
		/** Resolves with the first line matching `predicate`, or rejects after `ms`. */
		wait(predicate, ms, what) {
			return new Promise((resolvePromise, reject) => {
				const test = () => {
					const found = seen.find(predicate);
					if (found === undefined) return;
					clearTimeout(timer);
					waiters.delete(test);
					resolvePromise(found);
				};
				const timer = setTimeout(() => {
					waiters.delete(test);
					reject(new Error(`${what}: nothing in ${ms} ms (saw ${JSON.stringify(seen.slice(-5))})`));
				}, ms);
				waiters.add(test);
				test();
			});
		},
	};
}

/** Parses `format=frames`: a 4-byte big-endian length before each payload. */
function parseFrames(bytes) {
	const frames = [];
	let at = 0;
	while (at + 4 <= bytes.length) {
		const size = bytes.readUInt32BE(at);
		frames.push(bytes.subarray(at + 4, at + 4 + size).toString("utf8"));
		at += 4 + size;
	}
	check(at === bytes.length, "format=frames body does not end on a frame boundary");
	return frames;
}

/** One case: its own relay, clock publisher and browser, steps 1 to 7. */
async function runCase({ name, query, transport: want, screenshot: shot }) {
	current = name;
	const chat = `web/chromium-${name}`;
	// 1. The relay, serving the built page on its HTTP port.
	const relay = start(RELAY, ["--bind", "127.0.0.1:0", "--log", DEBUG ? "moql_session=debug,moql_relay=debug" : "warn", "--web-root", DIST]);
	const relayOut = lines(relay);
	const listening = await relayOut.wait((l) => l.startsWith("listening "), STEP_TIMEOUT_MS, "relay start");
	const [, addr, , fingerprint] = listening.split(/\s+/);
	const port = Number(addr.split(":").pop());
	const http = `http://127.0.0.1:${port}`;
	const moqlUrl = `moql://127.0.0.1:${port}/`;
	log(`relay on ${addr}, fingerprint ${fingerprint.slice(0, 16)}…`);

	const clock = start(MOQL, ["publish", moqlUrl, CLOCK, "--track", CLOCK_TRACK, "--clock", "--tick-ms", "100", "--tls-fingerprint", fingerprint, "-q"]);

	// 2. Chromium with a fresh profile (launchPersistentContext passes --user-data-dir).
	const profile = mkdtempSync(join(tmpdir(), "moql-chromium-"));
	cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: [
			"--headless",
			"--no-sandbox",
			"--disable-gpu",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
		viewport: { width: 1100, height: 1250 },
		timeout: STEP_TIMEOUT_MS,
	});
	cleanups.push(() => context.close());
	const page = context.pages()[0] ?? (await context.newPage());
	page.setDefaultTimeout(STEP_TIMEOUT_MS);
	page.on("console", (msg) => {
		if (DEBUG) log(`page ${msg.type()}: ${msg.text()}`);
		else if (msg.type() === "error" || msg.type() === "warning") log(`page ${msg.type()}: ${msg.text().split("\n")[0]}`);
	});
	page.on("pageerror", (err) => log(`page error: ${err.message}`));

	// The WebSocket upgrade's answer, as Chromium saw it (the page cannot read it: @moq/net
	// keeps its socket to itself).
	const upgrades = [];
	const cdp = await context.newCDPSession(page);
	await cdp.send("Network.enable");
	cdp.on("Network.webSocketHandshakeResponseReceived", ({ response }) => {
		const headers = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
		upgrades.push({ status: response.status, protocol: headers["sec-websocket-protocol"] });
	});

	await page.goto(`${http}/${query}`);
	await page.waitForSelector('#status[data-state="connected"], #status[data-state="error"]');
	const status = page.locator("#status");
	check((await status.getAttribute("data-state")) === "connected", `page did not connect: ${await status.textContent()}`);
	const transport = await status.getAttribute("data-transport");
	const version = await status.getAttribute("data-version");
	check(transport === want, `connected over ${transport}, not ${want}`);
	check(version === "moq-lite-05", `negotiated ${version}, not moq-lite-05`);
	if (want === "websocket") {
		const upgrade = upgrades.find((u) => u.status === 101);
		check(upgrade !== undefined, `no WebSocket upgrade answered 101 (saw ${JSON.stringify(upgrades)})`);
		check(
			/^qmux-0\d\.moq-lite-05$/.test(upgrade.protocol ?? ""),
			`the upgrade negotiated ${JSON.stringify(upgrade.protocol)}, not qmux-0N.moq-lite-05`,
		);
		pass(`the page connected over WebSocket (${version}, Sec-WebSocket-Protocol ${upgrade.protocol})`);
	} else {
		check(upgrades.length === 0, `the page opened a WebSocket too: ${JSON.stringify(upgrades)}`);
		pass(`the page connected over ${transport} (${version}) with the pinned certificate`);
	}

	// 3. The clock is announced, then watched.
	const entry = page.locator(`#announced li[data-path="${CLOCK}"]`);
	await entry.waitFor();
	pass(`the announced list shows ${CLOCK}`);
	await page.fill("#watch-track", CLOCK_TRACK);
	await entry.locator("button").click();
	await page.waitForFunction(() => Number(document.querySelector("#frame-count")?.dataset.count) >= 5);
	const ticks = await page.locator("#frames li").allTextContents();
	check(
		ticks.every((t) => /group \d+ · frame \d+ · \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(t)),
		`ticks do not look like the clock: ${JSON.stringify(ticks.slice(0, 3))}`,
	);
	pass(`ticks arrive (${ticks[0]})`);

	// 4. The page publishes; `moql subscribe` reads it back.
	await page.fill("#publish-broadcast", chat);
	await page.fill("#publish-track", CHAT_TRACK);
	await page.click("#publish");
	await page.waitForSelector('#publish-status[data-state="publishing"]');
	const subscriber = start(MOQL, ["subscribe", moqlUrl, chat, CHAT_TRACK, "--wait-ms", "10000", "--tls-fingerprint", fingerprint, "-q"]);
	const subscriberOut = lines(subscriber);
	let echoed;
	for (let attempt = 1; attempt <= 10 && echoed === undefined; attempt++) {
		await page.fill("#publish-text", `hello from chromium #${attempt}`);
		await page.click("#send");
		echoed = await subscriberOut
			.wait((l) => l.startsWith("hello from chromium #"), 1500, "moql subscribe")
			.catch(() => undefined);
	}
	check(echoed !== undefined, `moql subscribe never printed the page's text (saw ${JSON.stringify(subscriberOut.seen)})`);
	pass(`moql subscribe read the page's broadcast: "${echoed}"`);

	// 5. Fetch a past group (one the clock has finished), compared with the relay's HTTP view.
	await page.waitForFunction(() => Number(document.querySelector("#frame-count")?.dataset.group) >= 2);
	const latest = Number(await page.locator("#frame-count").getAttribute("data-group"));
	const group = latest - 1;
	await page.fill("#fetch-group", String(group));
	await page.click("#fetch");
	await page.waitForSelector('#fetch-status[data-state="done"], #fetch-status[data-state="error"]');
	const fetchStatus = page.locator("#fetch-status");
	check((await fetchStatus.getAttribute("data-state")) === "done", `fetch failed: ${await fetchStatus.textContent()}`);
	const shown = (await page.locator("#fetched li").allTextContents()).map((t) => t.split(" · ")[2]);
	const response = await fetch(`${http}/fetch/${CLOCK}/${CLOCK_TRACK}?group=${group}&format=frames`);
	check(response.ok, `HTTP /fetch answered ${response.status}`);
	const expected = parseFrames(Buffer.from(await response.arrayBuffer()));
	check(shown.length > 0, "the fetched group shows no frames");
	check(
		JSON.stringify(shown) === JSON.stringify(expected),
		`the page's group ${group} differs from HTTP /fetch: ${JSON.stringify(shown)} vs ${JSON.stringify(expected)}`,
	);
	pass(`fetch group ${group} shows its ${shown.length} frames, as HTTP /fetch does`);

	mkdirSync(OUT, { recursive: true });
	const screenshot = join(OUT, shot);
	await page.screenshot({ path: screenshot, fullPage: true });
	log(`screenshot: ${screenshot}`);

	// 6. The clock's publisher leaves: the live list drops it.
	clock.kill("SIGTERM");
	await entry.waitFor({ state: "detached" });
	pass(`the announced list drops ${CLOCK} when its publisher leaves`);

	// 7. The relay shuts down (GOAWAY, drain, close): the page says so, the relay exits 0.
	const exited = new Promise((resolvePromise) => relay.once("exit", (code) => resolvePromise(code)));
	relay.kill("SIGTERM");
	await page.waitForSelector('#status[data-state="closed"]');
	const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), STEP_TIMEOUT_MS))]);
	check(code === 0, `the relay exited with ${code}`);
	// A clean close: the relay's session close arrived (not "Connection lost").
	const how = await status.getAttribute("data-closed");
	check(how === "clean", `the page lost the connection instead: ${await status.textContent()}`);
	pass(`the page sees the relay leave with a clean close; the relay exits 0`);
}

async function main() {
	for (const c of CASES) {
		await runCase(c);
		await cleanup();
	}
}

/** Ends what the current case started: the browser, then the processes. */
async function cleanup() {
	for (const step of cleanups.splice(0).reverse()) {
		try {
			await step();
		} catch {
			// Best effort: the processes below are killed either way.
		}
	}
	for (const child of children.splice(0)) child.kill("SIGTERM");
}

const timer = setTimeout(() => {
	log(`timed out after ${RUN_TIMEOUT_MS} ms`);
	for (const child of children) child.kill("SIGKILL");
	process.exit(1);
}, RUN_TIMEOUT_MS);

let failed = 0;
try {
	await main();
} catch (err) {
	failed = 1;
	log(`FAILED: ${err instanceof Error ? err.message : err}`);
}
await cleanup();
clearTimeout(timer);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
